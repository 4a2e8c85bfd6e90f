"""The policies' database ports: every port the chart's database URLs name is open, or no render."""

from __future__ import annotations

from pathlib import Path

from tests.chart.conftest import VALUE_SETS
from tests.chart.tools import Manifest, helm_template, of_kind, render_with, set_json

DATABASE = {"cidrs": ["10.0.0.0/24"]}


def _database_ports(objects: list[Manifest]) -> dict[str, set[int]]:
    """Each NetworkPolicy's ports of its database egress rule (the rule to the CIDR)."""
    ports: dict[str, set[int]] = {}
    for policy in of_kind(objects, "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            if {"ipBlock": {"cidr": "10.0.0.0/24"}} in rule.get("to", []):
                ports[policy["metadata"]["name"]] = {port["port"] for port in rule["ports"]}
    return ports


def _render(helm: Path, database: dict[str, object], **secret: str) -> list[Manifest]:
    return render_with(
        helm,
        VALUE_SETS["default"],
        networkPolicy={"enabled": True, "egress": {"database": database}},
        secret=secret,
    )


def test_pgbouncer_for_the_api_and_postgresql_for_migrations_both_open(helm: Path) -> None:
    objects = _render(
        helm,
        {**DATABASE, "port": 5432, "extraPorts": [6432]},
        databaseUrl="postgresql://tasks:pw@pgbouncer:6432/tasks",
        migrationDatabaseUrl="postgresql://owner:pw@db:5432/tasks",
    )
    ports = _database_ports(objects)
    # The API's, the migration Job's and the purge CronJob's policies.
    assert len(ports) == 3, ports
    assert all(opened == {5432, 6432} for opened in ports.values()), ports


def test_a_url_on_a_port_the_policy_does_not_open_stops_the_render(helm: Path) -> None:
    result = helm_template(
        helm,
        values_files=[VALUE_SETS["default"]],
        extra=set_json(
            networkPolicy={"enabled": True, "egress": {"database": {**DATABASE, "port": 5432}}},
            secret={"databaseUrl": "postgresql+asyncpg://tasks:pw@pgbouncer.internal:6432/tasks"},
        ),
    )
    assert result.returncode != 0
    assert "secret.databaseUrl uses port 6432" in result.stderr
    assert "extraPorts" in result.stderr
    assert "pw@" not in result.stderr, "the URL's password never reaches the message"


def test_a_migration_url_without_a_port_means_5432(helm: Path) -> None:
    result = helm_template(
        helm,
        values_files=[VALUE_SETS["default"]],
        extra=set_json(
            networkPolicy={"enabled": True, "egress": {"database": {**DATABASE, "port": 6432}}},
            secret={
                "databaseUrl": "postgresql://tasks:pw@pgbouncer:6432/tasks",
                "migrationDatabaseUrl": "postgresql://owner:pw@db/tasks",
            },
        ),
    )
    assert result.returncode != 0
    assert "secret.migrationDatabaseUrl uses port 5432" in result.stderr


def test_without_urls_in_the_chart_the_ports_are_the_configured_ones(helm: Path) -> None:
    # The URLs come from an existing Secret: the chart cannot read their ports.
    objects = _render(
        helm,
        {**DATABASE, "port": 15432, "extraPorts": [16432, 15432]},
        databaseUrl="",
        existingSecret="tasks-api-credentials",
    )
    assert set(map(frozenset, _database_ports(objects).values())) == {frozenset({15432, 16432})}
