"""Shared fixtures of the chart tests: the tools, and every value set rendered once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart.tools import VALUE_SETS_DIR, Manifest, render, require_tool

VALUE_SETS = {
    "default": VALUE_SETS_DIR / "default-values.yaml",
    "production": VALUE_SETS_DIR / "production-values.yaml",
    "existing-secret": VALUE_SETS_DIR / "existing-secret-values.yaml",
    "argocd": VALUE_SETS_DIR / "argocd-values.yaml",
    "openshift": VALUE_SETS_DIR / "openshift-values.yaml",
    "cloudnativepg": VALUE_SETS_DIR / "cloudnativepg-values.yaml",
    "e2e": VALUE_SETS_DIR / "e2e-values.yaml",
    "staging-drills": VALUE_SETS_DIR / "staging-drills-values.yaml",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/chart/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.tools)


@pytest.fixture(scope="session")
def helm() -> Path:
    return require_tool("helm")


@pytest.fixture(scope="session")
def checkov() -> Path:
    return require_tool("checkov")


@pytest.fixture(scope="session")
def rendered(helm: Path) -> dict[str, list[Manifest]]:
    """Each value set of chart/ci rendered once per session."""
    return {name: render(helm, values_files=[path]) for name, path in VALUE_SETS.items()}


@pytest.fixture(scope="session")
def default_objects(rendered: dict[str, list[Manifest]]) -> list[Manifest]:
    return rendered["default"]


@pytest.fixture(scope="session")
def production_objects(rendered: dict[str, list[Manifest]]) -> list[Manifest]:
    return rendered["production"]
