"""The compose stack, Prometheus, Tempo, Collector and Grafana files agree with each other."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.observability.paths import (
    COLLECTOR_CONFIG,
    COMPOSE,
    DASHBOARD,
    DASHBOARD_PROVIDERS,
    DATASOURCES,
    OBSERVABILITY,
    PROMETHEUS_CONFIG,
    RULES_DIR,
    TEMPO_CONFIG,
)

_PINNED = re.compile(r"^[^:@\s]+(:[\w][\w.-]*)?(@sha256:[0-9a-f]{64})?$")


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def unpinned_images(compose: Mapping[str, Any]) -> list[str]:
    """Return the services whose image has no explicit version tag or digest."""
    problems: list[str] = []
    for name, service in (compose.get("services") or {}).items():
        image = str(service.get("image", ""))
        match = _PINNED.match(image)
        tag = (match.group(1) or "").lstrip(":") if match else ""
        digest = match.group(2) if match else None
        if not image or match is None or (not digest and (not tag or tag == "latest")):
            problems.append(f"{name}: image {image!r} is not pinned to a version")
    return problems


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load(COMPOSE)


@pytest.fixture(scope="module")
def collector() -> dict[str, Any]:
    return _load(COLLECTOR_CONFIG)


def test_compose_runs_the_whole_stack(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {
        "postgres",
        "migrate",
        "tasks-api",
        "otel-collector",
        "tempo",
        "prometheus",
        "grafana",
        "loki",
        "alertmanager",
    }


def test_compose_images_are_pinned(compose: dict[str, Any]) -> None:
    assert unpinned_images(compose) == []
    assert compose["services"]["postgres"]["image"].startswith("postgres:16")


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("postgres:16.6", True),
        ("grafana/tempo@sha256:" + "a" * 64, True),
        ("postgres", False),
        ("prom/prometheus:latest", False),
        ("", False),
    ],
)
def test_image_pin_check(image: str, pinned: bool) -> None:
    assert (unpinned_images({"services": {"s": {"image": image}}}) == []) is pinned


def test_tasks_api_and_migrate_build_the_repository_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("tasks-api", "migrate"):
        assert services[name]["build"] == {"context": "..", "dockerfile": "Dockerfile"}
        assert services[name]["image"] == services["tasks-api"]["image"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["tasks-api"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }


def test_tasks_api_environment(compose: dict[str, Any], collector: dict[str, Any]) -> None:
    env = compose["services"]["tasks-api"]["environment"]
    assert env["ENVIRONMENT"] == "development"
    assert str(env["WEB_CONCURRENCY"]) == "2"
    assert len(env["JWT_SECRET"]) >= 32
    assert urlsplit(env["DATABASE_URL"]).hostname == "postgres"
    otlp = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert otlp.hostname == "otel-collector"
    assert otlp.port == _port(collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"])


def test_published_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "8000:8000" in services["tasks-api"]["ports"]
    assert "3000:3000" in services["grafana"]["ports"]
    assert "9090:9090" in services["prometheus"]["ports"]


def test_prometheus_accepts_remote_write_and_loads_the_bundle(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    assert "--web.enable-remote-write-receiver" in prometheus["command"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert "./prometheus:/etc/prometheus:ro" in prometheus["volumes"]


def test_prometheus_scrapes_the_service_metrics_port_and_the_collector(
    collector: dict[str, Any],
) -> None:
    config = _load(PROMETHEUS_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    service = jobs["tasks-api"]
    assert service.get("metrics_path", "/metrics") == "/metrics"
    assert service["static_configs"][0]["targets"] == ["tasks-api:9000"]
    exporter_port = _port(collector["exporters"]["prometheus"]["endpoint"])
    assert jobs["otel-collector"]["static_configs"][0]["targets"] == [
        f"otel-collector:{exporter_port}"
    ]
    assert not jobs["otel-collector"].get("honor_labels", False)
    assert config["rule_files"] == ["rules/*.yaml"]
    assert sorted(RULES_DIR.glob("*.yaml")), "the glob must match the rule files"


def test_grafana_opens_explore_without_a_login(compose: dict[str, Any]) -> None:
    environment = compose["services"]["grafana"]["environment"]
    assert environment["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    # Explore needs Editor: an anonymous Viewer cannot open it.
    assert environment["GF_AUTH_ANONYMOUS_ORG_ROLE"] in {"Editor", "Admin"}
    assert environment["GF_AUTH_DISABLE_LOGIN_FORM"] == "true"


def test_grafana_mounts_its_provisioning(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    provider = _load(DASHBOARD_PROVIDERS)["providers"][0]
    assert provider["type"] == "file"
    assert mounts[provider["options"]["path"]] == "./grafana/dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"


def test_every_compose_bind_mount_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("."):
                assert (OBSERVABILITY / source).exists(), f"{name}: {source}"


def test_collector_pipelines(collector: dict[str, Any]) -> None:
    service = collector["service"]
    assert "health_check" in service["extensions"]
    assert "health_check" in collector["extensions"]
    for name in ("traces", "metrics", "logs"):
        pipeline = service["pipelines"][name]
        assert "otlp" in pipeline["receivers"]
        assert pipeline["processors"] == ["memory_limiter"]
    assert service["pipelines"]["traces"]["exporters"] == ["otlp_grpc/tempo"]
    assert service["pipelines"]["metrics"]["exporters"] == ["prometheus"]
    assert service["pipelines"]["logs"]["exporters"] == ["otlp_http/loki"]
    assert "file_log/docker" in service["pipelines"]["logs"]["receivers"]


def test_collector_sends_traces_to_tempo_grpc(collector: dict[str, Any]) -> None:
    tempo = _load(TEMPO_CONFIG)
    endpoint = collector["exporters"]["otlp_grpc/tempo"]["endpoint"]
    assert endpoint.split(":")[0] == "tempo"
    grpc = tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert _port(endpoint) == _port(grpc)


def test_tempo_generates_metrics_into_prometheus() -> None:
    tempo = _load(TEMPO_CONFIG)
    remote_write = tempo["metrics_generator"]["storage"]["remote_write"]
    assert remote_write[0]["url"] == "http://prometheus:9090/api/v1/write"
    processors = tempo["overrides"]["defaults"]["metrics_generator"]["processors"]
    assert {"service-graphs", "span-metrics"} <= set(processors)
    assert tempo["storage"]["trace"]["backend"] == "local"


def test_grafana_datasources_link_metrics_and_traces() -> None:
    sources = {source["type"]: source for source in _load(DATASOURCES)["datasources"]}
    prometheus, tempo = sources["prometheus"], sources["tempo"]
    assert prometheus["url"] == "http://prometheus:9090"
    assert tempo["url"] == "http://tempo:3200"
    destinations = prometheus["jsonData"]["exemplarTraceIdDestinations"]
    assert destinations
    assert {d["datasourceUid"] for d in destinations} == {tempo["uid"]}
    assert tempo["jsonData"]["tracesToMetrics"]["datasourceUid"] == prometheus["uid"]
    assert tempo["jsonData"]["serviceMap"]["datasourceUid"] == prometheus["uid"]
    assert tempo["jsonData"]["nodeGraph"]["enabled"] is True


def test_grafana_provisioning_escapes_literal_dollars() -> None:
    # Grafana expands $NAME in provisioning files; $__tags must be written $$__tags.
    text = DATASOURCES.read_text(encoding="utf-8")
    assert re.search(r"(?<!\$)\$(?!\$)__", text) is None


def yamllint_errors(*paths: Path) -> list[str]:
    """Run yamllint with its relaxed preset and return the problems of level error."""
    result = subprocess.run(
        [sys.executable, "-m", "yamllint", "-d", "relaxed", "-f", "parsable", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    return [line for line in result.stdout.splitlines() if "[error]" in line]


def test_yaml_has_no_yamllint_errors() -> None:
    paths = sorted([*OBSERVABILITY.rglob("*.yaml"), *OBSERVABILITY.rglob("*.yml")])
    assert len(paths) >= 12
    assert yamllint_errors(*paths) == []


def test_yamllint_check_reports_an_error(tmp_path: Path) -> None:
    duplicate = tmp_path / "duplicate.yaml"
    duplicate.write_text("a: 1\na: 2\n", encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n", encoding="utf-8")
    assert len(yamllint_errors(duplicate, broken)) == 2
