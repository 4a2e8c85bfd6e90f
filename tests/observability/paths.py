"""Locations of the observability bundle inside the repository."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = REPO_ROOT / "observability"

PROMETHEUS_DIR = OBSERVABILITY / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
RUNBOOK = OBSERVABILITY / "RUNBOOK.md"

GRAFANA_DIR = OBSERVABILITY / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
DASHBOARD = DASHBOARDS_DIR / "tasks-api-service.json"
DASHBOARD_GENERATOR = GRAFANA_DIR / "generate_dashboards.py"
DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources" / "datasources.yaml"
DASHBOARD_PROVIDERS = GRAFANA_DIR / "provisioning" / "dashboards" / "dashboards.yaml"

COMPOSE = OBSERVABILITY / "compose.yaml"
TEMPO_CONFIG = OBSERVABILITY / "tempo" / "tempo.yaml"
COLLECTOR_CONFIG = OBSERVABILITY / "otel-collector" / "config.yaml"


def rule_test_files() -> list[Path]:
    """Return the promtool unit test files, sorted by name."""
    return sorted(RULE_TESTS_DIR.glob("*.test.yaml"))
