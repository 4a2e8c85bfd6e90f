"""Settings have one source: the README table, the chart and its schema follow Settings."""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import Field
from pydantic_settings import BaseSettings

from service.config import PurgeSettings, Settings
from tests.chart.conftest import VALUE_SETS
from tests.chart.sources import chart_problems, readme_problems, readme_variables, schema_problems
from tests.chart.tools import CHART_DIR, RELEASE, REPO_ROOT, Manifest, find_object, of_kind

SCHEMA: dict[str, Any] = json.loads((CHART_DIR / "values.schema.json").read_text())
README = (REPO_ROOT / "README.md").read_text()
# Every command's settings: serve's, and purge's own (migrate's are a part of serve's).
ALL_FIELDS = {**Settings.model_fields, **PurgeSettings.model_fields}


def _rendered_variables(value_set: str, objects: list[Manifest]) -> set[str]:
    # What the chart renders itself: a value set's extraEnv is the user's, not the chart's.
    extra = yaml.safe_load(VALUE_SETS[value_set].read_text()).get("extraEnv") or []
    names = set(find_object(objects, "ConfigMap", RELEASE)["data"])
    for kind in ("Deployment", "Job"):
        for obj in of_kind(objects, kind):
            for container in obj["spec"]["template"]["spec"]["containers"]:
                names |= {entry["name"] for entry in container.get("env", [])}
    for obj in of_kind(objects, "CronJob"):
        for container in obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]:
            names |= {entry["name"] for entry in container.get("env", [])}
    return names - {entry["name"] for entry in extra}


def test_every_setting_has_a_readme_row_and_every_row_is_a_setting() -> None:
    documented = readme_variables(README)
    assert "DB_POOL_SIZE" in documented and "K8S_NODE_NAME" in documented
    assert readme_problems(ALL_FIELDS, documented) == []


def test_the_chart_renders_every_setting_and_nothing_else(
    rendered: dict[str, list[Manifest]],
) -> None:
    # Optional settings (DOCS_ENABLED) are rendered only when set: some value set sets each.
    per_set = [_rendered_variables(name, objects) for name, objects in rendered.items()]
    assert chart_problems(ALL_FIELDS, set().union(*per_set)) == []
    for names in per_set:
        assert [p for p in chart_problems(ALL_FIELDS, names) if "renders" in p] == []


def test_the_schema_agrees_with_the_settings_types_and_bounds() -> None:
    assert schema_problems(ALL_FIELDS, SCHEMA) == []


class _Grown(BaseSettings):
    """Settings as they would be after someone adds a field and forgets the rest."""

    db_pool_size: int = Field(default=10, ge=1, le=200)
    purge_after_days: int = Field(default=30, ge=1, le=3650)


def test_a_new_setting_fails_with_what_to_add_where() -> None:
    fields = _Grown.model_fields
    readme = readme_problems(fields, {"DB_POOL_SIZE"})
    assert readme == [
        "PURGE_AFTER_DAYS has no row in README.md's settings table (## Settings): add "
        "| `PURGE_AFTER_DAYS` | <default> | <meaning> |"
    ]
    (chart,) = chart_problems(fields, {"DB_POOL_SIZE"})
    assert "add config.purgeAfterDays to chart/values.yaml" in chart
    assert "'PURGE_AFTER_DAYS: {{ $c.purgeAfterDays | toString | quote }}'" in chart
    assert "chart/templates/_env.tpl" in chart
    (schema,) = schema_problems(fields, SCHEMA)
    assert "declares no config.purgeAfterDays" in schema


def test_a_stray_variable_and_a_wrong_bound_are_reported() -> None:
    fields = {"db_pool_size": Settings.model_fields["db_pool_size"]}
    (stray,) = chart_problems(fields, {"DB_POOL_SIZE", "DB_POOL_SIZ"})
    assert stray.startswith("the chart renders DB_POOL_SIZ, which is no field")
    (row,) = readme_problems(fields, {"DB_POOL_SIZE", "DB_POOLSIZE"})
    assert "documents DB_POOLSIZE" in row
    schema = json.loads(json.dumps(SCHEMA))
    schema["properties"]["config"]["properties"]["dbPoolSize"]["maximum"] = 500
    schema["properties"]["config"]["properties"]["dbPoolSize"]["type"] = "string"
    problems = schema_problems(fields, schema)
    assert any('set "maximum": 200' in p for p in problems)
    assert any("type ['string']" in p for p in problems)


def test_an_external_variable_must_really_be_read_by_the_service() -> None:
    fields = {"db_pool_size": Settings.model_fields["db_pool_size"]}
    assert chart_problems(fields, {"DB_POOL_SIZE", "K8S_POD_NAME", "OTEL_SERVICE_NAME"}) == []
    assert chart_problems(fields, {"DB_POOL_SIZE", "K8S_CLUSTER_NAME"}) != []
