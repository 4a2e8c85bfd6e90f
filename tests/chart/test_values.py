"""values.yaml and values.schema.json: documented, strict, and in agreement."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from tests.chart.tools import CHART_DIR

VALUES_TEXT = (CHART_DIR / "values.yaml").read_text()
VALUES: dict[str, Any] = yaml.safe_load(VALUES_TEXT)
SCHEMA: dict[str, Any] = json.loads((CHART_DIR / "values.schema.json").read_text())
MAIN_OBJECTS = ("image", "config", "secret", "otel", "service", "migrations", "networkPolicy")
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.-]*):")


def documented_paths(text: str) -> dict[str, bool]:
    """Dotted path of every mapping key (outside lists) -> whether a comment precedes it."""
    result: dict[str, bool] = {}
    stack: list[tuple[int, str]] = []
    previous = ""
    in_list_below: int | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            previous = ""
            continue
        indent = len(line) - len(line.lstrip(" "))
        if in_list_below is not None and indent > in_list_below:
            previous = stripped
            continue
        in_list_below = None
        if stripped.startswith("- "):
            in_list_below = indent
            previous = stripped
            continue
        match = KEY_LINE.match(line)
        if match and not stripped.startswith("#"):
            while stack and stack[-1][0] >= indent:
                stack.pop()
            path = ".".join([*(key for _, key in stack), match["key"]])
            result[path] = previous.startswith("#")
            stack.append((indent, match["key"]))
        previous = stripped
    return result


def schema_paths(schema: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of the properties the schema declares."""
    for key, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}{key}"
        yield path
        yield from schema_paths(sub, f"{path}.")


def test_every_declared_value_has_a_comment() -> None:
    documented = documented_paths(VALUES_TEXT)
    declared = set(schema_paths(SCHEMA))
    keys = [p for p in documented if p in declared]
    assert len(keys) > 100, "the walk found too few keys to mean anything"
    assert [p for p in keys if not documented[p]] == []


def test_comment_check_finds_an_undocumented_key() -> None:
    text = "# -- documented\nimage:\n  # -- yes\n  tag: x\n  pullPolicy: Always\n"
    assert documented_paths(text) == {"image": True, "image.tag": True, "image.pullPolicy": False}


def test_comment_check_ignores_keys_inside_lists() -> None:
    text = "# -- hosts\nhosts:\n  - host: a\n    paths:\n      - path: /\n# -- next\nnext: 1\n"
    assert documented_paths(text) == {"hosts": True, "next": True}


def test_values_validate_against_the_schema() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    jsonschema.Draft7Validator(SCHEMA).validate(VALUES)


def free_form_maps(schema: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of objects whose keys are data (labels, annotations), not settings."""
    for key, sub in (schema.get("properties") or {}).items():
        if "properties" in sub:
            yield from free_form_maps(sub, f"{prefix}{key}.")
        elif "object" in (
            sub.get("type") if isinstance(sub.get("type"), list) else [sub.get("type")]
        ):
            yield f"{prefix}{key}."


def test_every_value_is_declared_and_every_declared_top_level_key_has_a_value() -> None:
    declared = set(schema_paths(SCHEMA))
    data_maps = tuple(free_form_maps(SCHEMA))
    assert "dashboards.labels." in data_maps
    walked = documented_paths(VALUES_TEXT)
    undeclared = [p for p in walked if p not in declared and not p.startswith(data_maps)]
    assert undeclared == []
    assert set(SCHEMA["properties"]) - {"global"} == set(VALUES)


@pytest.mark.parametrize("path", ["", *MAIN_OBJECTS])
def test_schema_is_closed_on_the_main_objects(path: str) -> None:
    node = SCHEMA
    for key in filter(None, path.split(".")):
        node = node["properties"][key]
    assert node["additionalProperties"] is False
    assert node.get("required"), f"{path or 'top level'} requires nothing"
