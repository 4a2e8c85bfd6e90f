"""The compose stack links a request's metrics, trace and logs both ways, and pages once.

Static checks of the provisioning: no Grafana, Tempo, Loki or collector binary
runs here (config_keys.py cites what each key list was written from).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.observability.paths import (
    COLLECTOR_CONFIG,
    COMPOSE,
    DATASOURCES,
    OBSERVABILITY,
    PROMETHEUS_CONFIG,
    TEMPO_CONFIG,
)

LOKI_CONFIG = OBSERVABILITY / "loki" / "loki.yaml"
ALERTMANAGER_CONFIG = OBSERVABILITY / "alertmanager" / "alertmanager.yml"
# The exemplar label Tempo's metrics generator writes on span metrics.
TEMPO_EXEMPLAR_LABEL = "traceID"


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


@pytest.fixture(scope="module")
def sources() -> dict[str, dict[str, Any]]:
    return {source["type"]: source for source in _load(DATASOURCES)["datasources"]}


def test_exemplars_open_the_trace_in_tempo(sources: dict[str, dict[str, Any]]) -> None:
    destinations = {
        d["name"]: d["datasourceUid"]
        for d in sources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    }
    assert destinations[TEMPO_EXEMPLAR_LABEL] == sources["tempo"]["uid"]
    tempo = _load(TEMPO_CONFIG)
    assert tempo["metrics_generator"]["storage"]["remote_write"][0]["send_exemplars"] is True
    command = _load(COMPOSE)["services"]["prometheus"]["command"]
    assert any("exemplar-storage" in flag for flag in command)


def test_a_span_opens_its_logs_in_loki(sources: dict[str, dict[str, Any]]) -> None:
    links = sources["tempo"]["jsonData"]["tracesToLogsV2"]
    assert links["datasourceUid"] == sources["loki"]["uid"]
    # The query selects the service's stream and the span's trace id.
    assert "service_name=" in links["query"]
    assert re.search(r'trace_id="\$\$\{__(trace|span)\.traceId\}"', links["query"])


def test_a_log_line_opens_its_trace_in_tempo(sources: dict[str, dict[str, Any]]) -> None:
    (field,) = sources["loki"]["jsonData"]["derivedFields"]
    assert field["datasourceUid"] == sources["tempo"]["uid"]
    assert (field["matcherType"], field["matcherRegex"]) == ("label", "trace_id")
    assert field["url"] == "$${__value.raw}"


def test_a_span_opens_its_metrics_and_the_service_map(sources: dict[str, dict[str, Any]]) -> None:
    tempo = sources["tempo"]["jsonData"]
    prometheus = sources["prometheus"]["uid"]
    assert tempo["tracesToMetrics"]["datasourceUid"] == prometheus
    assert tempo["serviceMap"]["datasourceUid"] == prometheus
    assert tempo["lokiSearch"]["datasourceUid"] == sources["loki"]["uid"]


def test_the_collector_ships_logs_to_loki_with_their_trace_ids() -> None:
    collector = _load(COLLECTOR_CONFIG)
    loki = _load(LOKI_CONFIG)
    endpoint = collector["exporters"]["otlp_http/loki"]["endpoint"]
    assert endpoint == f"http://loki:{loki['server']['http_listen_port']}/otlp"
    assert loki["limits_config"]["allow_structured_metadata"] is True
    operators = collector["receivers"]["file_log/docker"]["operators"]
    parser = next(op for op in operators if op["type"] == "trace_parser")
    assert parser["trace_id"]["parse_from"] == "attributes.trace_id"
    assert any(
        op["type"] == "add" and op["field"] == 'resource["service.name"]' for op in operators
    )


def test_the_collector_reads_only_tasks_apis_container_logs() -> None:
    services = _load(COMPOSE)["services"]
    logging = services["tasks-api"]["logging"]
    assert logging["options"]["labels"] == "com.docker.compose.service"
    collector = services["otel-collector"]
    assert "/var/lib/docker/containers:/var/lib/docker/containers:ro" in collector["volumes"]
    operators = _load(COLLECTOR_CONFIG)["receivers"]["file_log/docker"]["operators"]
    (keep,) = [op for op in operators if op["type"] == "filter"]
    assert '"tasks-api"' in keep["expr"]


def test_prometheus_scrapes_the_collectors_own_metrics_loki_and_alertmanager() -> None:
    collector = _load(COLLECTOR_CONFIG)
    (reader,) = collector["service"]["telemetry"]["metrics"]["readers"]
    port = reader["pull"]["exporter"]["prometheus"]["port"]
    jobs = {job["job_name"]: job for job in _load(PROMETHEUS_CONFIG)["scrape_configs"]}
    assert jobs["otel-collector-self"]["static_configs"][0]["targets"] == [f"otel-collector:{port}"]
    assert jobs["loki"]["static_configs"][0]["targets"] == ["loki:3100"]
    assert jobs["alertmanager"]["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_prometheus_sends_alerts_to_the_stacks_alertmanager() -> None:
    config = _load(PROMETHEUS_CONFIG)
    (manager,) = config["alerting"]["alertmanagers"]
    assert manager["static_configs"][0]["targets"] == ["alertmanager:9093"]
    alertmanager = _load(COMPOSE)["services"]["alertmanager"]
    assert "./alertmanager:/etc/alertmanager:ro" in alertmanager["volumes"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in alertmanager["command"]
    assert ALERTMANAGER_CONFIG.exists()


def test_compose_resource_attributes_follow_the_semantic_conventions() -> None:
    env = _load(COMPOSE)["services"]["tasks-api"]["environment"]
    attributes = dict(pair.split("=", 1) for pair in env["OTEL_RESOURCE_ATTRIBUTES"].split(","))
    assert attributes["deployment.environment.name"] == "development"
    assert "deployment.environment" not in attributes
    assert "service.namespace" not in attributes


def test_the_compose_pod_label_feeds_the_dashboard_variable() -> None:
    jobs = {job["job_name"]: job for job in _load(PROMETHEUS_CONFIG)["scrape_configs"]}
    assert jobs["tasks-api"]["static_configs"][0]["labels"] == {"pod": "tasks-api"}
