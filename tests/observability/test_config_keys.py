"""The collector and Tempo configs use only keys of the pinned versions (see config_keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.observability.config_keys import (
    COLLECTOR_VERSION,
    TEMPO_VERSION,
    collector_problems,
    pipeline_problems,
    tempo_problems,
    unknown_keys,
)
from tests.observability.paths import COLLECTOR_CONFIG, COMPOSE, OBSERVABILITY, TEMPO_CONFIG

AGENT_CONFIG = OBSERVABILITY / "otel-collector" / "kubernetes" / "agent.yaml"
COLLECTOR_CONFIGS = (COLLECTOR_CONFIG, AGENT_CONFIG)


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def _images() -> dict[str, str]:
    return {name: s["image"] for name, s in _load(COMPOSE)["services"].items() if "image" in s}


def test_compose_runs_the_pinned_collector_and_tempo() -> None:
    images = _images()
    assert images["otel-collector"] == f"otel/opentelemetry-collector-contrib:{COLLECTOR_VERSION}"
    assert images["tempo"] == f"grafana/tempo:{TEMPO_VERSION}"


@pytest.mark.parametrize("path", COLLECTOR_CONFIGS, ids=lambda p: p.name)
def test_collector_config_uses_only_keys_of_the_pinned_version(path: Path) -> None:
    config = _load(path)
    assert collector_problems(config) == []
    assert pipeline_problems(config) == []


@pytest.mark.parametrize("path", COLLECTOR_CONFIGS, ids=lambda p: p.name)
def test_every_pipeline_limits_memory_first_and_exporters_batch(path: Path) -> None:
    config = _load(path)
    for name, pipeline in config["service"]["pipelines"].items():
        assert pipeline["processors"][0] == "memory_limiter", name
        for exporter in pipeline["exporters"]:
            settings = config["exporters"][exporter] or {}
            if not exporter.startswith("prometheus"):  # pulled: nothing to batch
                assert "batch" in settings["sending_queue"], exporter


def test_tempo_config_uses_only_keys_of_tempo_3() -> None:
    assert tempo_problems(_load(TEMPO_CONFIG)) == []


def test_the_checker_flags_the_old_collector_config() -> None:
    old = {
        "processors": {"batch": {"send_batch_size": 8192}, "memory_limiter": {"limit_mib": 1}},
        "exporters": {"otlp/tempo": {"endpoint": "tempo:4317"}, "otlphttp": {}},
        "receivers": {"filelog": {"include": ["x"]}},
        "service": {"telemetry": {"metrics": {"address": "0.0.0.0:8888"}}},
    }
    assert collector_problems(old) == [
        "processors.batch: component not in the key list",
        "exporters.otlp/tempo: deprecated name, use otlp_grpc",
        "exporters.otlphttp: deprecated name, use otlp_http",
        "receivers.filelog: deprecated name, use file_log",
        "service.telemetry.metrics.address: not a key of the pinned version",
    ]


def test_the_checker_flags_a_misspelt_key_and_an_unknown_operator() -> None:
    config = {
        "exporters": {
            "otlp_grpc": {"sending_queue": {"batch": {"flush_timeout": "1s", "size": 2}}}
        },
        "receivers": {"file_log": {"operators": [{"type": "json_parser"}, {"type": "jq"}]}},
    }
    assert collector_problems(config) == [
        "exporters.otlp_grpc.sending_queue.batch.size: not a key of the pinned version",
        "receivers.file_log.operators[1]: unknown operator type 'jq'",
    ]


def test_the_checker_flags_pipelines_with_undefined_parts_or_a_batch_processor() -> None:
    config = {
        "receivers": {"otlp": {}},
        "processors": {"batch": {}},
        "exporters": {},
        "service": {
            "pipelines": {
                "traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["x"]}
            }
        },
    }
    assert pipeline_problems(config) == [
        "pipeline traces: exporter x is not defined",
        "pipeline traces: batch processor; batch in the exporter instead",
    ]


def test_the_checker_flags_a_tempo_2_config() -> None:
    old = {
        "ingester": {"max_block_duration": "5m"},
        "compactor": {"compaction": {"block_retention": "24h"}},
        "metrics_generator": {"storage": {"path": "/tmp", "remote_wrte": []}},
    }
    assert tempo_problems(old) == [
        "ingester: removed in Tempo 3.0",
        "compactor: removed in Tempo 3.0",
        "metrics_generator.storage.remote_wrte: not a key of the pinned version",
    ]


def test_unknown_keys_rejects_a_list_where_a_mapping_is_expected() -> None:
    assert unknown_keys([1], {"a": None}, "x") == ["x: expected a mapping"]
    assert unknown_keys({"a": 1}, [{"a": None}], "x") == ["x: expected a list"]


def test_the_cluster_agent_enriches_with_kubernetes_and_node_attributes() -> None:
    agent = _load(AGENT_CONFIG)
    k8s = agent["processors"]["k8s_attributes"]
    assert {"k8s.pod.uid", "k8s.deployment.name", "k8s.namespace.name"} <= set(
        k8s["extract"]["metadata"]
    )
    assert k8s["filter"]["node_from_env_var"] == "K8S_NODE_NAME"
    assert {"env", "system"} <= set(agent["processors"]["resource_detection"]["detectors"])
    operators = agent["receivers"]["file_log/pods"]["operators"]
    assert operators[0]["type"] == "container"
    assert any(op["type"] == "trace_parser" for op in operators)
    for pipeline in agent["service"]["pipelines"].values():
        assert pipeline["processors"][1:3] == ["k8s_attributes", "resource_detection"]
    assert "file_log/pods" in agent["service"]["pipelines"]["logs"]["receivers"]
