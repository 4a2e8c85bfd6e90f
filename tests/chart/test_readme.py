"""chart/README.md: generated from README.tmpl.md and values.yaml, current, every value listed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import yaml

from tests.chart.tools import CHART_DIR

GENERATOR = CHART_DIR / "generate_readme.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_readme", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _check(output: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--output", str(output)] if output else []
    return subprocess.run(
        [sys.executable, str(GENERATOR), "--check", *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_chart_readme_is_current() -> None:
    result = _check()
    assert result.returncode == 0, result.stderr


def test_a_stale_readme_is_reported(tmp_path: Path) -> None:
    stale = tmp_path / "README.md"
    stale.write_text((CHART_DIR / "README.md").read_text().replace("| replicaCount |", "| x |"))
    result = _check(stale)
    assert result.returncode == 1
    assert "stale" in result.stderr


def test_a_missing_readme_is_reported(tmp_path: Path) -> None:
    assert _check(tmp_path / "README.md").returncode == 1


def _leaves(node: object, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node:
        return [p for k, v in node.items() for p in _leaves(v, f"{prefix}{k}.")]
    return [prefix.rstrip(".")]


def test_every_value_has_a_described_row() -> None:
    text = (CHART_DIR / "values.yaml").read_text()
    rows = _generator().rows(text)
    keys = [key for key, *_ in rows]
    assert len(keys) > 150
    assert all(description for *_, description in rows), "a value without a # -- comment"
    # Every leaf of values.yaml is a row, or inside a data map that is one row.
    for leaf in _leaves(yaml.safe_load(text)):
        assert any(leaf == key or leaf.startswith(key + ".") for key in keys), leaf


def test_rows_follow_helm_docs() -> None:
    text = (
        "# -- The image.\nimage:\n  # -- Repository.\n  repository: x\n  # -- Tag,\n"
        '  # continued.\n  tag: ""\n# -- Labels.\nlabels:\n  a.b/c: "1"\n'
        "# -- Hosts.\nhosts:\n  - host: a\n    paths: [/]\n"
        "undocumented: null\n"
    )
    assert _generator().rows(text) == [
        ("image.repository", "string", '`"x"`', "Repository."),
        ("image.tag", "string", '`""`', "Tag, continued."),
        ("labels", "object", '`{"a.b/c":"1"}`', "Labels."),
        ("hosts", "list", '`[{"host":"a","paths":["/"]}]`', "Hosts."),
        ("undocumented", "string", "`null`", ""),
    ]
