"""`tasks-api serve` as a real process: zero-config start, drain on SIGTERM, outages."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

from service.telemetry.otel import EXIT_EXPORT_SECONDS
from service.version import VERSION
from tests.support.databases import url_string
from tests.support.proxy import Mode, TcpProxy
from tests.support.server import (
    ServiceProcess,
    free_port,
    run_command,
    running_service,
    service_env,
)


def _wait_for(check: Callable[[], bool], timeout: float) -> float:
    """Poll until check() is true; returns the seconds it took (fails after timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail(f"condition not met within {timeout} s")


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2.0).status_code
    except httpx.HTTPError:
        return 0


def test_serve_with_no_configuration(tmp_path: Path) -> None:
    with running_service({}, cwd=tmp_path, wait=False) as service:
        ready_after = service.wait_ready(timeout=15)
        health = httpx.get(f"{service.base_url}/healthz")
        docs = httpx.get(f"{service.base_url}/docs")
    assert ready_after < 15
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "version": VERSION}
    assert docs.status_code == 200
    assert (tmp_path / "tasks.db").exists(), "the embedded default is ./tasks.db"
    assert service.process.returncode == 0


def test_serve_refuses_to_start_on_invalid_port(tmp_path: Path) -> None:
    result = run_command("serve", env={"PORT": "0x50"}, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_fails_readiness_during_drain_then_exits_cleanly(tmp_path: Path) -> None:
    drain, graceful = 2.0, 5.0
    env = {"DRAIN_DELAY_SECONDS": str(drain), "GRACEFUL_TIMEOUT_SECONDS": str(graceful)}
    with running_service(env, cwd=tmp_path) as service:
        service.process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        _wait_for(lambda: _status(f"{service.base_url}/readyz") == 503, timeout=1.0)
        # Still serving while draining: liveness stays up.
        assert _status(f"{service.base_url}/healthz") == 200
        assert time.monotonic() - sent < drain
        code = service.process.wait(drain + graceful + 5)
        elapsed = time.monotonic() - sent
    assert code == 0
    assert drain * 0.9 <= elapsed <= drain + graceful + 2
    assert "Traceback" not in service.logs()


def _exit_after_sigterm(service: ServiceProcess, timeout: float) -> tuple[int, float]:
    """SIGTERM the service; its exit code and the seconds the exit took."""
    service.process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    code = service.process.wait(timeout)
    return code, time.monotonic() - sent


PROTOCOLS = pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])


@PROTOCOLS
def test_collector_that_never_answers_does_not_hold_the_exit(tmp_path: Path, protocol: str) -> None:
    graceful = 20.0
    # A listening socket that is never accepted from: the kernel completes the
    # handshakes, and the exporters' requests wait for an answer that never comes.
    with socket.socket() as collector:
        collector.bind(("127.0.0.1", 0))
        collector.listen(64)
        env = {
            "GRACEFUL_TIMEOUT_SECONDS": str(graceful),
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.getsockname()[1]}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_METRICS_EXPORTER": "otlp",
        }
        with running_service(env, cwd=tmp_path) as service:
            for _ in range(3):  # spans and measurements to export
                assert _status(f"{service.base_url}/api/v1/tasks") == 401
            code, elapsed = _exit_after_sigterm(service, graceful + 10)
    assert code == 0
    # The flush and the shutdown each give up after EXIT_EXPORT_SECONDS, long before
    # gunicorn would kill the worker at the graceful timeout.
    assert elapsed < 2 * EXIT_EXPORT_SECONDS + 3, elapsed
    assert service.logs().count("telemetry_export_abandoned") == 2
    assert "Traceback" not in service.logs()


@PROTOCOLS
def test_telemetry_exit_is_quick_when_the_collector_refuses(tmp_path: Path, protocol: str) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{closed.getsockname()[1]}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_METRICS_EXPORTER": "otlp",
        }
        with running_service(env, cwd=tmp_path) as service:
            assert _status(f"{service.base_url}/api/v1/tasks") == 401
            code, elapsed = _exit_after_sigterm(service, 30)
    assert code == 0
    assert elapsed < 2 * EXIT_EXPORT_SECONDS + 3, elapsed
    assert "Traceback" not in service.logs()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "thrift"),
        ("OTEL_TRACES_EXPORTER", "jaeger"),
    ],
)
def test_serve_refuses_an_unknown_otlp_protocol_in_one_line(
    tmp_path: Path, variable: str, value: str
) -> None:
    port = free_port()
    env = {
        "PORT": str(port),
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
        variable: value,
    }
    result = run_command("serve", env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"tasks-api: {variable}={value!r} is not supported: use ")
    assert not (tmp_path / "tasks.db").exists(), "refused before anything started"


def test_sigint_stops_without_waiting_for_the_drain(tmp_path: Path) -> None:
    with running_service({"DRAIN_DELAY_SECONDS": "30"}, cwd=tmp_path) as service:
        started = time.monotonic()
        code = service.stop(signal.SIGINT, timeout=20)
    assert code == 0
    assert time.monotonic() - started < 10


@pytest.mark.postgres
def test_serve_never_migrates_postgres_and_readiness_follows_the_schema(
    fresh_database: URL, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": url_string(fresh_database)}
    with running_service(env, cwd=tmp_path, wait=False) as service:
        _wait_for(lambda: _status(f"{service.base_url}/healthz") == 200, timeout=15)
        response = httpx.get(f"{service.base_url}/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["schema"].startswith("behind")
        migrated = run_command("migrate", env=env, timeout=60)
        assert migrated.returncode == 0, migrated.stderr
        # Every probe asks the database afresh: the next one after the migration passes.
        # The bound only keeps a hang from passing; a loaded machine needs a few seconds.
        _wait_for(lambda: _status(f"{service.base_url}/readyz") == 200, timeout=15)


@pytest.mark.postgres
def test_readiness_follows_database_outage_without_restart(
    database_url: URL, tmp_path: Path
) -> None:
    assert database_url.host and database_url.port
    with TcpProxy(database_url.host, database_url.port) as proxy:
        via_proxy = database_url.set(host="127.0.0.1", port=proxy.port)
        env = {"DATABASE_URL": url_string(via_proxy), "DB_CONNECT_TIMEOUT_SECONDS": "1"}
        with running_service(env, cwd=tmp_path) as service:
            pid = service.process.pid
            proxy.set_mode(Mode.REFUSE)
            down_after = _wait_for(lambda: _status(f"{service.base_url}/readyz") == 503, 3)
            assert _status(f"{service.base_url}/healthz") == 200
            proxy.set_mode(Mode.FORWARD)
            up_after = _wait_for(lambda: _status(f"{service.base_url}/readyz") == 200, 5)
            assert service.process.pid == pid and service.process.poll() is None
    assert down_after < 3
    assert up_after < 5


@pytest.mark.postgres
def test_readiness_fails_fast_when_database_is_black_holed(
    database_url: URL, tmp_path: Path
) -> None:
    assert database_url.host and database_url.port
    with TcpProxy(database_url.host, database_url.port) as proxy:
        via_proxy = database_url.set(host="127.0.0.1", port=proxy.port)
        with running_service({"DATABASE_URL": url_string(via_proxy)}, cwd=tmp_path) as service:
            proxy.set_mode(Mode.BLACKHOLE)
            started = time.monotonic()
            response = httpx.get(f"{service.base_url}/readyz", timeout=5)
            took = time.monotonic() - started
            proxy.set_mode(Mode.FORWARD)
            _wait_for(lambda: _status(f"{service.base_url}/readyz") == 200, 5)
    assert response.status_code == 503
    assert took < 2.0, "readiness is bounded by its 1 s timeout"


def test_probe_command_reports_status(tmp_path: Path) -> None:
    with running_service({}, cwd=tmp_path) as service:
        ok = asyncio.run(_probe(f"{service.base_url}/healthz"))
        missing = asyncio.run(_probe(f"{service.base_url}/nothing"))
    unreachable = asyncio.run(_probe("http://127.0.0.1:1/healthz"))
    assert (ok, missing, unreachable) == (0, 1, 1)


async def _probe(url: str) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", "probe", url, "--timeout", "2", env=service_env()
    )
    return await process.wait()
