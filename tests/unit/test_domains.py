"""Domains are discovered: each folder's router is mounted, and a misnamed one stops start-up."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from service import domains


@pytest.fixture
def extra_domain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder that service.domains searches for more domain packages."""
    monkeypatch.setattr(domains, "__path__", [*domains.__path__, str(tmp_path)])
    yield tmp_path
    for name in [name for name in sys.modules if name.startswith("service.domains.zz_")]:
        del sys.modules[name]


def _write_domain(root: Path, name: str, routes: str) -> None:
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text('"""A domain of the test."""\n')
    (package / "routes.py").write_text(routes)


def test_every_domain_router_is_found_in_name_order() -> None:
    prefixes = [router.prefix for router in domains.discover_routers()]
    assert prefixes == ["/tasks", ""]  # tasks, then users (whose paths carry their prefix)


def test_a_new_domain_folder_is_mounted(extra_domain: Path) -> None:
    _write_domain(
        extra_domain,
        "zz_notes",
        "from fastapi import APIRouter\nrouter = APIRouter(prefix='/notes')\n",
    )
    assert "/notes" in [router.prefix for router in domains.discover_routers()]


def test_a_routes_module_with_a_misnamed_router_stops_start_up(extra_domain: Path) -> None:
    _write_domain(
        extra_domain,
        "zz_typo",
        "from fastapi import APIRouter\nrouters = APIRouter(prefix='/typo')\n",
    )
    with pytest.raises(TypeError, match=r"service\.domains\.zz_typo\.routes .*`router`"):
        domains.discover_routers()


def test_a_router_that_is_no_api_router_stops_start_up(extra_domain: Path) -> None:
    _write_domain(extra_domain, "zz_wrong", "router = object()\n")
    with pytest.raises(TypeError, match="zz_wrong"):
        domains.discover_routers()
