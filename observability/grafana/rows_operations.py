"""Operations rows of the tasks-api dashboard: database, business, health, SLOs."""

from __future__ import annotations

from dashboard_model import (
    SEL,
    SLO_SEL,
    Json,
    Panel,
    Row,
    Target,
    burn_rate_targets,
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
                (Target(quantile(0.95, metric, "operation"), "{{operation}}", exemplar=True),),
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
                "Readiness by instance",
                "1 while /readyz passes on every worker of the instance, 0 while not ready "
                "(database down, schema behind, draining).",
                "short",
                (Target(f"min by (instance) (tasks_api_readiness{{{SEL}}})", "{{instance}}"),),
            ),
            Panel(
                "Scrape up by instance",
                "1 while Prometheus scrapes the instance's metrics port, 0 when it fails.",
                "short",
                (Target(f"up{{{SEL}}}", "{{instance}}"),),
            ),
            Panel(
                "OTLP export failures",
                "Spans and metric points per second that an OTLP export failed to deliver, "
                "by signal.",
                "cps",
                (
                    Target(
                        f"sum by (instance, signal) "
                        f"({rate('tasks_api_otel_export_failures_total')})",
                        "{{signal}} {{instance}}",
                    ),
                ),
            ),
        ),
    )


def slo_row() -> Row:
    """Return error budgets and burn rates of both SLOs."""
    budget_steps = ((None, "red"), (0.0, "orange"), (0.25, "yellow"), (0.5, "green"))
    burn_steps = ((None, "green"), (1.0, "yellow"), (6.0, "orange"), (14.4, "red"))
    burn_extra: Json = {"thresholdsStyle": "line"}
    return Row(
        "SLOs (30 days)",
        (
            Panel(
                "Availability error budget remaining",
                "Share of the 30-day availability budget (0.1 % of API requests may "
                "fail with a 5xx) still left. Negative: the SLO is missed.",
                "percentunit",
                (
                    Target(
                        f'slo:error_budget_remaining:ratio30d{{{SLO_SEL}, slo="availability"}}',
                        "{{job}}",
                    ),
                ),
                kind="stat",
                width=6,
                thresholds=budget_steps,
            ),
            Panel(
                "Latency error budget remaining",
                "Share of the 30-day latency budget (1 % of API requests may take "
                "longer than 0.25 s) still left. Negative: the SLO is missed.",
                "percentunit",
                (
                    Target(
                        f'slo:error_budget_remaining:ratio30d{{{SLO_SEL}, slo="latency"}}',
                        "{{job}}",
                    ),
                ),
                kind="stat",
                width=6,
                thresholds=budget_steps,
            ),
            Panel(
                "Availability over 30 days",
                "Share of API requests answered without a 5xx over 30 days (objective 99.9 %).",
                "percentunit",
                (
                    Target(
                        f'1 - slo:sli_error:ratio_rate30d{{{SLO_SEL}, slo="availability"}}',
                        "{{job}}",
                    ),
                ),
                kind="stat",
                width=6,
                thresholds=((None, "red"), (0.999, "green")),
                extra={"decimals": 3},
            ),
            Panel(
                "Requests within 0.25 s over 30 days",
                "Share of API requests that completed within 0.25 s over 30 days (objective 99 %).",
                "percentunit",
                (
                    Target(
                        f'1 - slo:sli_error:ratio_rate30d{{{SLO_SEL}, slo="latency"}}',
                        "{{job}}",
                    ),
                ),
                kind="stat",
                width=6,
                thresholds=((None, "red"), (0.99, "green")),
                extra={"decimals": 2},
            ),
            Panel(
                "Availability burn rate by window",
                "5xx ratio divided by the 0.1 % budget, per window. 1 spends the budget "
                "in exactly 30 days. Pages at 14.4 (1h and 5m) or 6 (6h and 30m); "
                "tickets at 3 (1d and 2h) or 1 (3d and 6h).",
                "suffix:x",
                burn_rate_targets("availability", 0.001),
                width=12,
                thresholds=burn_steps,
                extra=burn_extra,
            ),
            Panel(
                "Latency burn rate by window",
                "Share of requests slower than 0.25 s divided by the 1 % budget, per "
                "window. Same thresholds as the availability burn rate.",
                "suffix:x",
                burn_rate_targets("latency", 0.01),
                width=12,
                thresholds=burn_steps,
                extra=burn_extra,
            ),
        ),
    )
