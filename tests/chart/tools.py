"""External tools of the chart and image checks, and helm rendering.

Tools are looked up on PATH, then in .ci/tools/bin (installed by .ci/install-tools.sh),
then in .venv/bin. A missing tool skips the test that needs it, with the reason, unless
REQUIRE_TOOLS=1, which turns it into a failure (CI must not pass by skipping).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "chart"
VALUE_SETS_DIR = CHART_DIR / "ci"
TOOL_DIRS = (REPO_ROOT / ".ci" / "tools" / "bin", REPO_ROOT / ".venv" / "bin")
RELEASE = "tasks-api"
NAMESPACE = "tasks-api"

Manifest = dict[str, Any]


def find_tool(name: str, search_path: str | None = None) -> Path | None:
    """The tool's path: PATH first, then .ci/tools/bin, then .venv/bin; None when absent."""
    on_path = shutil.which(name, path=search_path)
    if on_path:
        return Path(on_path)
    for directory in TOOL_DIRS:
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def tools_required() -> bool:
    """Whether a missing tool is a failure rather than a skip."""
    return os.environ.get("REQUIRE_TOOLS") == "1"


def require_tool(name: str) -> Path:
    """The tool's path, or skip (fail under REQUIRE_TOOLS=1) when it is not installed."""
    path = find_tool(name)
    if path is not None:
        return path
    reason = f"{name} not found on PATH, in .ci/tools/bin or .venv/bin (bash .ci/install-tools.sh)"
    if tools_required():
        pytest.fail(f"REQUIRE_TOOLS=1: {reason}")
    pytest.skip(reason)


def run(
    command: Sequence[str | Path], timeout: float = 120, cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    """Run a command (from the repository root by default), capturing its output; never raises."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def helm_template(
    helm: Path,
    *,
    values_files: Sequence[Path] = (),
    set_values: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """`helm template` of the chart as release tasks-api in namespace tasks-api."""
    command: list[str | Path] = [helm, "template", RELEASE, CHART_DIR, "--namespace", NAMESPACE]
    for path in values_files:
        command += ["--values", path]
    for assignment in set_values:
        command += ["--set", assignment]
    command += list(extra)
    return run(command)


def parse_manifests(text: str) -> list[Manifest]:
    """The objects of a multi-document YAML stream (empty documents dropped)."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render(
    helm: Path, *, values_files: Sequence[Path] = (), set_values: Sequence[str] = ()
) -> list[Manifest]:
    """Rendered objects; fails the test with helm's message when rendering fails."""
    result = helm_template(helm, values_files=values_files, set_values=set_values)
    if result.returncode != 0:
        pytest.fail(f"helm template failed:\n{result.stderr}")
    return parse_manifests(result.stdout)


def render_with(helm: Path, base: Path, **values: Any) -> list[Manifest]:
    """A value set rendered with these values merged over it (None is null)."""
    result = helm_template(helm, values_files=[base], extra=set_json(**values))
    if result.returncode != 0:
        pytest.fail(f"helm template failed:\n{result.stderr}")
    return parse_manifests(result.stdout)


def set_json(prefix: str = "", **values: Any) -> list[str]:
    """--set-json arguments that set each leaf (mappings are merged, not replaced)."""
    arguments: list[str] = []
    for key, value in values.items():
        path = prefix + key.replace(".", "\\.")
        if isinstance(value, dict) and value:
            arguments += set_json(f"{path}.", **value)
        else:
            arguments += ["--set-json", f"{path}={json.dumps(value)}"]
    return arguments


def find_object(objects: Sequence[Manifest], kind: str, name: str) -> Manifest:
    """The one object of that kind and name."""
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def of_kind(objects: Sequence[Manifest], kind: str) -> list[Manifest]:
    """All objects of a kind."""
    return [o for o in objects if o["kind"] == kind]
