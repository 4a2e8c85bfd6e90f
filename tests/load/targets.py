"""The servers under load: tasks-api and the bare and instrumented baselines, as processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.processes import children_of
from tests.support.server import PROJECT_ROOT, free_port

READY_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class MemoryUse:
    """Memory of one process, in bytes: resident now, resident peak, proportional share."""

    rss: int
    peak_rss: int
    pss: int


def memory_of(pid: int) -> MemoryUse:
    """VmRSS and VmHWM from /proc/PID/status, Pss from /proc/PID/smaps_rollup."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in {"VmRSS", "VmHWM"}:
            values[key] = int(rest.split()[0]) * 1024
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                values["Pss"] = int(line.split()[1]) * 1024
    return MemoryUse(values.get("VmRSS", 0), values.get("VmHWM", 0), values.get("Pss", 0))


@dataclass
class Target:
    """A server to benchmark: how to start it and what it reported."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    # `python -m` puts the working directory first on sys.path: the code that runs is
    # the `service` package found there.
    cwd: Path = PROJECT_ROOT
    port: int = field(default_factory=free_port)
    metrics_port: int | None = None  # the service's separate Prometheus port
    process: subprocess.Popen[bytes] | None = None
    cold_start_seconds: float = 0.0

    @property
    def base_url(self) -> str:
        """Where it listens."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> float:
        """Start the process and wait for /readyz 200; the cold start in seconds."""
        env = self.env | {"PORT": str(self.port)}
        with self.log_path.open("wb") as log:
            started = time.monotonic()
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() - started < timeout:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited early; see {self.log_path}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.base_url}/readyz").status_code == 200:
                        self.cold_start_seconds = time.monotonic() - started
                        return self.cold_start_seconds
                time.sleep(READY_POLL_SECONDS)
        self.stop()
        raise TimeoutError(f"{self.name} not ready within {timeout} s; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        """The worker processes under the master."""
        return sorted(children_of(self.process.pid)) if self.process else []

    def worker_memory(self) -> list[MemoryUse]:
        """Memory of every worker right now."""
        result = []
        for pid in self.worker_pids():
            with contextlib.suppress(OSError):
                result.append(memory_of(pid))
        return result

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM the master and wait; SIGKILL the group if it does not exit."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def base_env() -> dict[str, str]:
    """PATH, HOME and LANG only: nothing else of the caller leaks into the servers."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return env | {"PYTHONUNBUFFERED": "1"}


def service_target(
    *,
    workers: int,
    database_url: str,
    jwt_secret: str,
    otlp_endpoint: str,
    log_dir: Path,
    name: str = "service",
    source: Path | None = None,
) -> Target:
    """`python -m service serve` as the image runs it, in production mode, telemetry on.

    `source` runs the service package of another tree (e.g. a worktree of an older
    commit) with this environment's dependencies; the baselines always run from here.
    """
    metrics_port = free_port()
    env = base_env() | {
        "ENVIRONMENT": "production",
        "DATABASE_URL": database_url,
        "JWT_SECRET": jwt_secret,
        "ACCESS_TOKEN_TTL_SECONDS": "86400",
        "WEB_CONCURRENCY": str(workers),
        "METRICS_PORT": str(metrics_port),
        "DRAIN_DELAY_SECONDS": "0",
        "LOG_FORMAT": "json",
        "OTEL_SERVICE_NAME": "tasks-api",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_METRIC_EXPORT_INTERVAL": "5000",
    }
    return Target(
        name=name,
        argv=[sys.executable, "-m", "service", "serve"],
        env=env,
        log_path=log_dir / f"{name}.log",
        cwd=source.resolve() if source is not None else PROJECT_ROOT,
        metrics_port=metrics_port,
    )


def _gunicorn_argv(app: str, workers: int, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        app,
        f"--workers={workers}",
        "--worker-class=uvicorn_worker.UvicornWorker",
        f"--bind=127.0.0.1:{port}",
        "--keep-alive=75",
        "--log-level=warning",
        *extra,
    ]


def bare_target(*, workers: int, dsn: str, owner_id: str, log_dir: Path) -> Target:
    """The bare FastAPI + asyncpg app of tests/load/baseline.py under the same gunicorn setup."""
    port = free_port()
    env = base_env() | {
        "BASELINE_DATABASE_URL": dsn,
        "BASELINE_OWNER_ID": owner_id,
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    argv = _gunicorn_argv("tests.load.baseline:app", workers, port)
    return Target(name="bare", argv=argv, env=env, log_path=log_dir / "bare.log", port=port)


def instrumented_target(
    *, workers: int, dsn: str, owner_id: str, otlp_endpoint: str, log_dir: Path
) -> Target:
    """The bare app plus the observability libraries at their defaults (instrumented.py)."""
    port = free_port()
    metrics_dir = log_dir / "instrumented-prometheus"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    env = base_env() | {
        "BASELINE_DATABASE_URL": dsn,
        "BASELINE_OWNER_ID": owner_id,
        "PYTHONPATH": str(PROJECT_ROOT),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "OTEL_SERVICE_NAME": "instrumented-baseline",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
    }
    argv = _gunicorn_argv(
        "tests.load.instrumented:app",
        workers,
        port,
        "--config=python:tests.load.instrumented_gunicorn",
    )
    return Target(
        name="instrumented",
        argv=argv,
        env=env,
        log_path=log_dir / "instrumented.log",
        port=port,
    )
