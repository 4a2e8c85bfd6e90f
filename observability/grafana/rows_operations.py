"""Operations rows of the tasks-api dashboard: database, business, health."""

from __future__ import annotations

from dashboard_model import (
    SEL,
    Panel,
    Row,
    Target,
    quantile,
    rate,
)


def database_row() -> Row:
    """Return database query rate and duration per operation."""
    metric = "tasks_api_db_query_duration_seconds"
    return Row(
        "Database",
        (
            Panel(
                "DB queries by operation",
                "Database statements per second by operation (SELECT, INSERT, ...).",
                "ops",
                (
                    Target(
                        f"sum by (operation) ({rate(metric + '_count')})",
                        "{{operation}}",
                    ),
                ),
                width=12,
            ),
            Panel(
                "DB query p95 by operation",
                "95th percentile database statement duration by operation.",
                "s",
                (Target(quantile(0.95, metric, "operation"), "{{operation}}"),),
                width=12,
            ),
        ),
    )


def business_row() -> Row:
    """Return the domain counters."""
    counters = (
        ("Tasks created", "tasks_api_tasks_created_total", "Tasks created per second."),
        (
            "Failed logins",
            "tasks_api_logins_failed_total",
            "Failed token requests per second (wrong password or unknown user). "
            "A sudden rise can mean credential stuffing.",
        ),
        (
            "Idempotent replays",
            "tasks_api_idempotent_replays_total",
            "Requests answered from a stored response because their Idempotency-Key "
            "was seen before (client retries).",
        ),
    )
    panels = [
        Panel(title, description, "ops", (Target(f"sum({rate(metric)})", title.lower()),), width=6)
        for title, metric, description in counters
    ]
    panels.append(
        Panel(
            "Security events",
            "Security events per second by kind (README, Security): failed logins, "
            "lockouts, refresh-token reuse, revoked tokens and their use. Each is also "
            "a log line with event=security.<kind>, the user id and the client address.",
            "ops",
            (
                Target(
                    f"sum by (event) ({rate('tasks_api_security_events_total')})",
                    "{{event}}",
                ),
            ),
            width=6,
        )
    )
    panels.append(
        Panel(
            "Tasks created in range",
            "Tasks created during the selected time range.",
            "short",
            (
                Target(
                    f"sum(increase(tasks_api_tasks_created_total{{{SEL}}}[$__range]))",
                    "tasks",
                    instant=True,
                ),
            ),
            kind="stat",
            width=6,
        )
    )
    return Row("Business", tuple(panels))


def health_row() -> Row:
    """Return readiness, scrape health and telemetry export failures."""
    return Row(
        "Health and telemetry",
        (
            Panel(
                "Readiness by pod",
                "1 while /readyz passes on every worker of the pod, 0 while not ready "
                "(database down, schema behind, draining).",
                "short",
                (Target(f"min by (pod) (tasks_api_readiness{{{SEL}}})", "{{pod}}"),),
            ),
            Panel(
                "Schema state by pod",
                "Where the database schema stands relative to each pod's code: at_head, ahead "
                "(a newer release migrated it: old code still running, e.g. mid-rollout or "
                "after a rollback), behind (migration not run: not ready) or unknown.",
                "short",
                (
                    Target(
                        f"max by (pod, state) (tasks_api_schema_state{{{SEL}}}) > 0",
                        "{{state}} {{pod}}",
                    ),
                ),
            ),
            Panel(
                "Scrape up by pod",
                "1 while Prometheus scrapes the pod's metrics port, 0 when it fails.",
                "short",
                (Target(f"up{{{SEL}}}", "{{pod}}"),),
            ),
            Panel(
                "OTLP export failures",
                "Spans and metric points per second that an OTLP export failed to deliver, "
                "by signal.",
                "cps",
                (
                    Target(
                        f"sum by (pod, signal) ({rate('tasks_api_otel_export_failures_total')})",
                        "{{signal}} {{pod}}",
                    ),
                ),
            ),
        ),
    )
