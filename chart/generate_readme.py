"""Generate chart/README.md from README.tmpl.md and the `# --` comments of values.yaml.

    python chart/generate_readme.py          # rewrite chart/README.md
    python chart/generate_readme.py --check  # exit 1 if it is stale

The values table follows helm-docs: a `# -- text` comment (continued by the `#` lines
under it) describes the key below it; a row per value, in file order, with its type and
default. A documented mapping whose children are documented too is described by its
children; one whose keys are data (labels, annotations) is a single row. Keys inside
lists are part of their list's default. Standard library and PyYAML only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART_DIR = Path(__file__).resolve().parent
TEMPLATE = CHART_DIR / "README.tmpl.md"
OUTPUT = CHART_DIR / "README.md"
VALUES_MARKER = "{{ values_table }}"
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.-]*):(?:\s|$)")


@dataclass(frozen=True)
class ValueDoc:
    """One documented key of values.yaml."""

    path: tuple[str, ...]
    description: str


def documented_keys(text: str) -> list[ValueDoc]:
    """Every mapping key outside lists, in file order, with its `# --` description ("" if none)."""
    docs: list[ValueDoc] = []
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    list_indent: int | None = None
    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if not stripped:
            pending = None
            continue
        if list_indent is not None and indent > list_indent:
            continue
        list_indent = None
        if stripped.startswith("# --"):
            pending = [stripped.removeprefix("# --").strip()]
            continue
        if stripped.startswith("#"):
            if pending is not None:
                pending.append(stripped.lstrip("#").strip())
            continue
        if stripped.startswith("- "):
            list_indent = indent
            pending = None
            continue
        match = KEY_LINE.match(line)
        if match:
            while stack and stack[-1][0] >= indent:
                stack.pop()
            path = (*(key for _, key in stack), match["key"])
            docs.append(ValueDoc(path, " ".join(pending or []).strip()))
            stack.append((indent, match["key"]))
        pending = None
    return docs


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "string"


def _default(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return "`" + text.replace("|", "\\|") + "`"


def _lookup(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for key in path:
        node = node[key]
    return node


def rows(text: str) -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) of every value, in file order."""
    values = yaml.safe_load(text)
    docs = documented_keys(text)
    with_described_children = {doc.path[:-1] for doc in docs if doc.description}
    # Mappings whose keys are data (labels, annotations...): one row with the whole map.
    one_row = {
        doc.path
        for doc in docs
        if isinstance(_lookup(values, doc.path), dict)
        and _lookup(values, doc.path)
        and doc.path not in with_described_children
    }
    table = []
    for doc in docs:
        if any(doc.path[:depth] in one_row for depth in range(1, len(doc.path))):
            continue
        value = _lookup(values, doc.path)
        if isinstance(value, dict) and value and doc.path not in one_row:
            continue  # described by its children
        table.append((".".join(doc.path), _type(value), _default(value), doc.description))
    return table


def values_table(text: str) -> str:
    """The helm-docs values table of a values.yaml text."""
    lines = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for key, kind, default, description in rows(text):
        cell = description.replace("|", "\\|")
        lines.append(f"| {key} | {kind} | {default} | {cell} |")
    return "\n".join(lines)


def render() -> str:
    """The README exactly as committed."""
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text(encoding="utf-8"))
    template = TEMPLATE.read_text(encoding="utf-8")
    table = values_table((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    text = (
        template.replace("{{ version }}", str(chart["version"]))
        .replace("{{ app_version }}", str(chart["appVersion"]))
        .replace("{{ kube_version }}", str(chart["kubeVersion"]))
        .replace(VALUES_MARKER, table)
    )
    return text.rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write chart/README.md, or with --check report whether it is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if the README is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="README path")
    args = parser.parse_args(argv)
    output: Path = args.output
    text = render()
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            sys.stderr.write(f"{output} is stale: run python chart/{Path(__file__).name}\n")
            return 1
        return 0
    output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
