"""One source for settings: what disagrees with `service.config.Settings`, as sentences.

The settings model is the source. The README's settings table, the variables the chart
renders and values.schema.json must agree with it; each function returns what is wrong,
phrased as what to add where, so that a new setting fails with instructions.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

import annotated_types
from pydantic.fields import FieldInfo

from tests.chart.tools import REPO_ROOT

# Variables the service reads outside Settings; each must still be named in service/.
EXTERNAL_VARIABLES = {
    "PROMETHEUS_MULTIPROC_DIR": "prometheus_client's multiprocess directory",
    "K8S_POD_NAME": "Downward API, turned into k8s.* resource attributes",
    "K8S_NAMESPACE_NAME": "Downward API, turned into k8s.* resource attributes",
    "K8S_NODE_NAME": "Downward API, turned into k8s.* resource attributes",
    "K8S_POD_UID": "Downward API, turned into k8s.* resource attributes",
    "K8S_DEPLOYMENT_NAME": "the chart's Deployment name, k8s.deployment.name",
    "K8S_CONTAINER_NAME": "the chart's container name, k8s.container.name",
}
EXTERNAL_PREFIXES = ("OTEL_",)  # the OpenTelemetry SDK's standard variables
# Settings the chart renders from a value outside config.*, or fixes itself.
VALUE_OF = {
    "ENVIRONMENT": "environment",
    "DATABASE_URL": "secret.databaseUrl",
    "JWT_SECRET": "secret.jwtSecret",
    "DRILLS_TOKEN": "secret.drillsToken",
    "MIGRATION_DATABASE_URL": "secret.migrationDatabaseUrl",
    "MIGRATION_LOCK_TIMEOUT_SECONDS": "migrations.lockTimeoutSeconds",
    "MIGRATION_DDL_LOCK_TIMEOUT_MS": "migrations.ddlLockTimeoutMs",
    "PURGE_BATCH_SIZE": "purge.batchSize",
    "PURGE_MAX_BATCHES": "purge.maxBatches",
    "PURGE_MAX_SECONDS": "purge.maxSeconds",
    "PURGE_GRACE_SECONDS": "purge.graceSeconds",
    "PORT": None,  # the container port "http" (8000), which probes and Service use
    "METRICS_PORT": None,  # the container port "metrics" (9000)
}
BOUNDS = {
    annotated_types.Ge: ("ge", "minimum"),
    annotated_types.Le: ("le", "maximum"),
    annotated_types.Gt: ("gt", "exclusiveMinimum"),
    annotated_types.Lt: ("lt", "exclusiveMaximum"),
}
ROW = re.compile(r"^\| `(?P<names>[^|]+)` \|")


def variable(field: str) -> str:
    """The environment variable of a Settings field."""
    return field.upper()


def value_path(name: str) -> str | None:
    """The chart value a setting's variable is rendered from (None: fixed by the chart)."""
    if name in VALUE_OF:
        return VALUE_OF[name]
    first, *rest = name.lower().split("_")
    return "config." + first + "".join(part.title() for part in rest)


def readme_variables(readme: str) -> set[str]:
    """Variable names of the README's settings table (a row may name several)."""
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            names |= {n.strip(" `") for n in match["names"].split(",")}
    return names


def is_external(name: str) -> bool:
    """Whether the service reads this variable outside Settings (and really does)."""
    if name.startswith(EXTERNAL_PREFIXES):
        return True
    if name not in EXTERNAL_VARIABLES:
        return False
    sources = (p.read_text() for p in (REPO_ROOT / "service").rglob("*.py"))
    return any(name in text for text in sources)


def readme_problems(fields: Iterable[str], documented: set[str]) -> list[str]:
    """Settings without a README row, and rows that are no setting."""
    names = {variable(f) for f in fields}
    problems = [
        f"{name} has no row in README.md's settings table (## Settings): add "
        f"| `{name}` | <default> | <meaning> |"
        for name in sorted(names - documented)
    ]
    problems += [
        f"README.md's settings table documents {name}, which is no field of "
        "service.config.Settings: remove the row or add the setting"
        for name in sorted(documented - names)
        if not is_external(name) and name != "OTEL_*"
    ]
    return problems


def _configdata_line(name: str, path: str) -> str:
    key = path.removeprefix("config.")
    return f"{name}: {{{{ $c.{key} | toString | quote }}}}"


def chart_problems(fields: Iterable[str], rendered: Iterable[str]) -> list[str]:
    """Settings the chart does not render, and rendered variables that are no setting."""
    names, seen = {variable(f) for f in fields}, set(rendered)
    problems = []
    for name in sorted(names - seen):
        path = value_path(name) or ""
        problems.append(
            f"{name} is not rendered by the chart: add {path} to chart/values.yaml (with a "
            f"'# --' comment) and chart/values.schema.json, the line "
            f"'{_configdata_line(name, path)}' to tasks-api.configData in "
            "chart/templates/_env.tpl, then run python chart/generate_readme.py"
        )
    problems += [
        f"the chart renders {name}, which is no field of service.config.Settings and no "
        "variable the service reads: remove it from chart/templates/_env.tpl"
        for name in sorted(seen - names)
        if not is_external(name)
    ]
    return problems


def _schema_node(schema: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    node: Mapping[str, Any] | None = schema
    for key in path.split("."):
        node = (node or {}).get("properties", {}).get(key)
    return node


def _allowed_types(annotation: Any) -> set[str]:
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_allowed_types(a) for a in args))
    if annotation is type(None):
        return {"null"}
    if annotation is bool:
        return {"boolean"}
    if annotation is int:
        return {"integer"}
    if annotation is float:
        return {"number", "integer"}
    return {"string"}  # str, SecretStr, Literal, enums, comma-separated tuples


def _choices(annotation: Any) -> set[Any] | None:
    for arg in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arg) is typing.Literal:
            return set(typing.get_args(arg))
        if isinstance(arg, type) and issubclass(arg, enum.Enum):
            return {member.value for member in arg}
    return None


def schema_problems(fields: Mapping[str, FieldInfo], schema: Mapping[str, Any]) -> list[str]:
    """Types, choices and bounds of values.schema.json that disagree with the settings."""
    problems = []
    for field, info in fields.items():
        name, path = variable(field), value_path(variable(field))
        node = _schema_node(schema, path) if path else None
        if path is None:
            continue
        if node is None:
            problems.append(f"{name}: chart/values.schema.json declares no {path}")
            continue
        where = f"values.schema.json {path}"
        types_ = node.get("type", [])
        stated = {types_} if isinstance(types_, str) else set(types_)
        allowed = _allowed_types(info.annotation)
        if stated - allowed:
            problems.append(f"{where}: type {sorted(stated)} where {name} takes {sorted(allowed)}")
        choices = _choices(info.annotation)
        if "enum" in node and choices is not None and set(node["enum"]) - {None} != choices:
            problems.append(f"{where}: enum {node['enum']} where {name} takes {sorted(choices)}")
        for constraint in info.metadata:
            for kind, (attribute, keyword) in BOUNDS.items():
                if isinstance(constraint, kind):
                    bound = getattr(constraint, attribute)
                    if node.get(keyword) != bound:
                        problems.append(
                            f'{where}: set "{keyword}": {bound} (Settings.{field} has '
                            f"{attribute}={bound}; the schema says {node.get(keyword)!r})"
                        )
    return problems
