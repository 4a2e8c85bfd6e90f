"""The gunicorn master's side of the metrics: multiprocess guard, process stats, bookkeeping."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client import values

from service.server import hooks as server_hooks
from service.server.serving import (
    MULTIPROC_ENV,
    ensure_multiprocess_metrics,
    prepare_multiprocess_dir,
)
from service.telemetry.prometheus import forget_process
from tests.support.apps import make_settings
from tests.support.server import free_port


def test_multiprocess_storage_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())  # type: ignore[no-untyped-call]
    ensure_multiprocess_metrics()


def test_prometheus_client_imported_before_the_directory_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(values, "ValueClass", values.MutexValue)
    with pytest.raises(RuntimeError, match="imported before PROMETHEUS_MULTIPROC_DIR"):
        ensure_multiprocess_metrics()


def test_configured_directory_is_created_and_emptied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = tmp_path / "metrics"
    (configured / "stale").mkdir(parents=True)
    (configured / "counter_123.db").write_bytes(b"old")
    monkeypatch.setenv(MULTIPROC_ENV, str(configured))
    assert prepare_multiprocess_dir() == configured
    assert list(configured.iterdir()) == []


def test_a_fresh_directory_when_none_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    # Set first, so that monkeypatch restores the variable's absence after the test:
    # prepare_multiprocess_dir sets it, and later tests must not inherit a removed directory.
    monkeypatch.setenv(MULTIPROC_ENV, "unset-after-the-test")
    monkeypatch.delenv(MULTIPROC_ENV)
    path = prepare_multiprocess_dir()
    try:
        assert path.is_dir()
        assert list(path.iterdir()) == []
        assert os.environ[MULTIPROC_ENV] == str(path)
    finally:
        path.rmdir()


def test_a_dead_process_keeps_its_counters_but_loses_its_live_gauges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    names = [
        "counter_101.db",
        "histogram_101.db",
        "gauge_livesum_101.db",
        "gauge_livemin_101.db",
        "gauge_livemax_101.db",
        "gauge_livesum_202.db",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    forget_process(101)
    remaining = sorted(path.name for path in tmp_path.iterdir())
    assert remaining == ["counter_101.db", "gauge_livesum_202.db", "histogram_101.db"]


def test_the_master_forgets_a_worker_it_finds_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    (tmp_path / "gauge_livemin_303.db").write_bytes(b"")
    hooks = server_hooks.hooks(make_settings("sqlite+aiosqlite:///x.db"))
    arbiter = SimpleNamespace(WORKERS={})
    hooks["worker_exit"](arbiter, SimpleNamespace(pid=303))
    hooks["child_exit"](arbiter, SimpleNamespace(pid=404))
    assert list(tmp_path.iterdir()) == []


def test_the_master_serves_metrics_of_itself_and_its_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    port = free_port()
    settings = make_settings("sqlite+aiosqlite:///x.db", host="127.0.0.1", metrics_port=port)
    hooks = server_hooks.hooks(settings)
    arbiter = SimpleNamespace(WORKERS={os.getppid(): object()})
    hooks["when_ready"](arbiter)
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        hooks["on_exit"](arbiter)
    assert response.status_code == 200
    # One pod-wide series per standard name, no pid label that churns on recycling.
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"):
        assert f"\n{name} " in response.text, name
    assert 'pid="' not in response.text
    assert "python_info{" in response.text
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
