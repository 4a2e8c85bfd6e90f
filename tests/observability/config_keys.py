"""The configuration keys of the pinned OpenTelemetry Collector and Tempo, and a checker.

No collector or Tempo binary runs here, so their configs are checked against
key lists written from the projects' own references for the pinned versions:

Collector (otel/opentelemetry-collector-contrib 0.165.0):
- open-telemetry/opentelemetry-collector exporter/exporterhelper/README.md
  (commit 6416e22): ``sending_queue`` with its ``batch`` block, the exporter
  batching that replaces the ``batch`` processor;
- component names in lower_snake_case, the old names kept as deprecated
  aliases: ``otlp_http`` (collector PR #14397) and ``otlp_grpc`` (#14403),
  both in v0.144.0; ``k8s_attributes`` (contrib PR #45901),
  ``resource_detection`` (#48525, v0.153.0), ``file_log`` (#46750);
- contrib exporter/prometheusexporter/README.md (commit 8b6660a);
- the collector's internal telemetry (``service::telemetry::metrics::readers``
  with a pull Prometheus exporter, ``level``), and the stanza operators of
  pkg/stanza/docs/operators (json_parser, filter, move, remove, add,
  trace_parser, container).

Tempo (grafana/tempo 3.0.0, monolithic mode):
- docs/sources/tempo/configuration/manifest.md (commit 00a3f86), the generated
  list of every option and its default;
- example/docker-compose/migrate-to-3/tempo-v3.yaml (commit 0d2e04a): the
  blocks 3.0 removed (ingester, compactor, ingester_client,
  metrics_generator_client) and the ones that replace them (live_store,
  backend_scheduler, backend_worker);
- the 3.0 deployment-modes page: monolithic mode (target all) needs no Kafka.

A key list holds what the bundle uses or may reasonably use, not every key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

COLLECTOR_VERSION = "0.165.0"
TEMPO_VERSION = "3.0.0"

ANY: None = None  # a leaf: any value


@dataclass(frozen=True)
class Operators:
    """A list of stanza operators, each checked by its ``type``."""

    by_type: Mapping[str, Mapping[str, Any]]


Spec = Mapping[str, Any] | list[Any] | Operators | None

_TLS = {"insecure": ANY, "insecure_skip_verify": ANY, "ca_file": ANY, "cert_file": ANY}
_QUEUE = {
    "enabled": ANY,
    "num_consumers": ANY,
    "queue_size": ANY,
    "sizer": ANY,
    "block_on_overflow": ANY,
    "wait_for_result": ANY,
    "storage": ANY,
    "batch": {"flush_timeout": ANY, "min_size": ANY, "max_size": ANY, "sizer": ANY},
}
_RETRY = {
    "enabled": ANY,
    "initial_interval": ANY,
    "max_interval": ANY,
    "max_elapsed_time": ANY,
    "multiplier": ANY,
}
_EXPORTER_HELPER = {"sending_queue": _QUEUE, "retry_on_failure": _RETRY, "timeout": ANY}
_PARSE_FROM = {"parse_from": ANY, "layout_type": ANY, "layout": ANY}
_OPERATOR = {"id": ANY, "output": ANY, "if": ANY, "on_error": ANY}
STANZA_OPERATORS: Mapping[str, Mapping[str, Any]] = {
    "json_parser": {
        **_OPERATOR,
        "parse_from": ANY,
        "parse_to": ANY,
        "timestamp": _PARSE_FROM,
        "severity": {"parse_from": ANY, "mapping": ANY, "preset": ANY},
    },
    "filter": {**_OPERATOR, "expr": ANY, "drop_ratio": ANY},
    "move": {**_OPERATOR, "from": ANY, "to": ANY},
    "remove": {**_OPERATOR, "field": ANY},
    "add": {**_OPERATOR, "field": ANY, "value": ANY},
    "trace_parser": {
        **_OPERATOR,
        "trace_id": {"parse_from": ANY},
        "span_id": {"parse_from": ANY},
        "trace_flags": {"parse_from": ANY},
    },
    "container": {**_OPERATOR, "format": ANY, "add_metadata_from_filepath": ANY},
}

COLLECTOR_COMPONENTS: Mapping[str, Mapping[str, Spec]] = {
    "receivers": {
        "otlp": {
            "protocols": {
                "grpc": {"endpoint": ANY, "max_recv_msg_size_mib": ANY},
                "http": {"endpoint": ANY, "cors": ANY},
            }
        },
        "file_log": {
            "include": ANY,
            "exclude": ANY,
            "start_at": ANY,
            "include_file_path": ANY,
            "include_file_name": ANY,
            "poll_interval": ANY,
            "storage": ANY,
            "retry_on_failure": _RETRY,
            "operators": Operators(STANZA_OPERATORS),
        },
    },
    "processors": {
        "memory_limiter": {
            "check_interval": ANY,
            "limit_percentage": ANY,
            "spike_limit_percentage": ANY,
            "limit_mib": ANY,
            "spike_limit_mib": ANY,
        },
        "k8s_attributes": {
            "auth_type": ANY,
            "passthrough": ANY,
            "filter": {"node_from_env_var": ANY, "namespace": ANY},
            "extract": {
                "metadata": ANY,
                "labels": [{"tag_name": ANY, "key": ANY, "key_regex": ANY, "from": ANY}],
                "annotations": [{"tag_name": ANY, "key": ANY, "key_regex": ANY, "from": ANY}],
            },
            "pod_association": [{"sources": [{"from": ANY, "name": ANY}]}],
        },
        "resource_detection": {
            "detectors": ANY,
            "timeout": ANY,
            "override": ANY,
            "system": {"hostname_sources": ANY, "resource_attributes": ANY},
        },
    },
    "exporters": {
        "otlp_grpc": {"endpoint": ANY, "tls": _TLS, "compression": ANY, **_EXPORTER_HELPER},
        "otlp_http": {
            "endpoint": ANY,
            "traces_endpoint": ANY,
            "metrics_endpoint": ANY,
            "logs_endpoint": ANY,
            "tls": _TLS,
            "compression": ANY,
            "encoding": ANY,
            **_EXPORTER_HELPER,
        },
        "prometheus": {
            "endpoint": ANY,
            "namespace": ANY,
            "const_labels": ANY,
            "send_timestamps": ANY,
            "metric_expiration": ANY,
            "enable_open_metrics": ANY,
            "resource_to_telemetry_conversion": {"enabled": ANY},
        },
    },
    "extensions": {"health_check": {"endpoint": ANY}},
    "connectors": {},
}
COLLECTOR_SERVICE: Spec = {
    "extensions": ANY,
    "telemetry": {
        "logs": {"level": ANY, "encoding": ANY},
        "metrics": {
            "level": ANY,
            "readers": [{"pull": {"exporter": {"prometheus": {"host": ANY, "port": ANY}}}}],
        },
    },
    "pipelines": {
        "*": {"receivers": ANY, "processors": ANY, "exporters": ANY},
    },
}
# Old component names: deprecated aliases at the pinned version.
DEPRECATED_COMPONENTS = {
    "otlphttp": "otlp_http",
    "k8sattributes": "k8s_attributes",
    "resourcedetection": "resource_detection",
    "filelog": "file_log",
}
DEPRECATED_EXPORTERS = {"otlp": "otlp_grpc"}

_RECEIVER_OTLP = {
    "protocols": {"grpc": {"endpoint": ANY}, "http": {"endpoint": ANY}},
}
TEMPO_KEYS: Spec = {
    "target": ANY,
    "stream_over_http_enabled": ANY,
    "server": {"http_listen_port": ANY, "grpc_listen_port": ANY, "log_level": ANY},
    "distributor": {"receivers": {"otlp": _RECEIVER_OTLP}},
    "live_store": {
        "wal": {"path": ANY},
        "shutdown_marker_dir": ANY,
        "complete_block_timeout": ANY,
        "max_block_duration": ANY,
    },
    "backend_scheduler": {
        "local_work_path": ANY,
        "provider": {"compaction": {"compaction": {"block_retention": ANY}}},
    },
    "backend_worker": {"compaction": {"block_retention": ANY}},
    "metrics_generator": {
        "registry": {"external_labels": {"*": ANY}, "collection_interval": ANY},
        "processor": {
            "span_metrics": {
                "dimensions": ANY,
                "intrinsic_dimensions": ANY,
                "histogram_buckets": ANY,
                "enable_target_info": ANY,
            },
            "service_graphs": {"dimensions": ANY, "histogram_buckets": ANY},
            "local_blocks": {"filter_server_spans": ANY, "flush_to_storage": ANY},
        },
        "storage": {
            "path": ANY,
            "remote_write": [{"url": ANY, "send_exemplars": ANY, "headers": ANY}],
        },
        "traces_storage": {"path": ANY},
    },
    "storage": {
        "trace": {"backend": ANY, "wal": {"path": ANY}, "local": {"path": ANY}},
    },
    "overrides": {
        "defaults": {
            "metrics_generator": {"processors": ANY, "generate_native_histograms": ANY},
        }
    },
    "usage_report": {"reporting_enabled": ANY},
}
TEMPO_REMOVED = ("ingester", "compactor", "ingester_client", "metrics_generator_client")


def _operator_problems(value: Any, spec: Operators, path: str) -> list[str]:
    if not isinstance(value, list):
        return [f"{path}: expected a list of operators"]
    problems: list[str] = []
    for index, operator in enumerate(value):
        kind = operator.get("type") if isinstance(operator, Mapping) else None
        allowed = spec.by_type.get(str(kind))
        where = f"{path}[{index}]"
        if allowed is None:
            problems.append(f"{where}: unknown operator type {kind!r}")
            continue
        rest = {k: v for k, v in operator.items() if k != "type"}
        problems += unknown_keys(rest, allowed, where)
    return problems


def unknown_keys(value: Any, spec: Spec, path: str = "") -> list[str]:
    """Return every key path of ``value`` that ``spec`` does not allow."""
    if spec is None:
        return []
    if isinstance(spec, Operators):
        return _operator_problems(value, spec, path)
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [
            p for i, item in enumerate(value) for p in unknown_keys(item, spec[0], f"{path}[{i}]")
        ]
    if not isinstance(value, Mapping):
        return [f"{path}: expected a mapping"]
    problems = []
    for key, item in value.items():
        where = f"{path}.{key}" if path else str(key)
        if key in spec:
            problems += unknown_keys(item, spec[key], where)
        elif "*" in spec:
            problems += unknown_keys(item, spec["*"], where)
        else:
            problems.append(f"{where}: not a key of the pinned version")
    return problems


def collector_problems(config: Mapping[str, Any]) -> list[str]:
    """Return the keys and component names of a collector config the pinned version lacks."""
    problems: list[str] = []
    for section, value in config.items():
        if section == "service":
            problems += unknown_keys(value, COLLECTOR_SERVICE, "service")
            continue
        known = COLLECTOR_COMPONENTS.get(str(section))
        if known is None:
            problems.append(f"{section}: not a section of a collector config")
            continue
        for name, settings in (value or {}).items():
            kind = str(name).split("/", 1)[0]
            renamed = DEPRECATED_COMPONENTS.get(kind)
            if section == "exporters":
                renamed = renamed or DEPRECATED_EXPORTERS.get(kind)
            if renamed:
                problems.append(f"{section}.{name}: deprecated name, use {renamed}")
            elif kind not in known:
                problems.append(f"{section}.{name}: component not in the key list")
            else:
                problems += unknown_keys(settings or {}, known[kind], f"{section}.{name}")
    return problems


def pipeline_problems(config: Mapping[str, Any]) -> list[str]:
    """Return pipeline references to undefined components, and batch processors."""
    problems: list[str] = []
    for pipeline, parts in (config.get("service", {}).get("pipelines") or {}).items():
        for role in ("receivers", "processors", "exporters"):
            for name in parts.get(role, []):
                if name not in (config.get(role) or {}):
                    problems.append(f"pipeline {pipeline}: {role[:-1]} {name} is not defined")
        if any(str(p).split("/")[0] == "batch" for p in parts.get("processors", [])):
            problems.append(f"pipeline {pipeline}: batch processor; batch in the exporter instead")
    return problems


def tempo_problems(config: Mapping[str, Any]) -> list[str]:
    """Return the keys of a Tempo config that Tempo 3.0 lacks or removed."""
    removed = [f"{key}: removed in Tempo 3.0" for key in TEMPO_REMOVED if key in config]
    return removed + unknown_keys(
        {k: v for k, v in config.items() if k not in TEMPO_REMOVED}, TEMPO_KEYS
    )
