"""Run `python -m service serve` as a real process, the way the image runs it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The tests register many users from one address (127.0.0.1) into databases and serves
# they share; the registration limit's own tests set a small limit of their own.
TEST_REGISTRATIONS_PER_ADDRESS = 100_000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServiceProcess:
    """A running tasks-api server and where its output goes."""

    process: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """The app's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        """The metrics endpoint."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def logs(self) -> str:
        """Everything the process wrote so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Wait until /readyz answers 200; returns the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited with {self.process.returncode}:\n{self.logs()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/readyz", timeout=1.0).status_code == 200:
                    return time.monotonic() - started
            time.sleep(0.1)
        raise TimeoutError(f"service not ready within {timeout} s:\n{self.logs()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send a signal and wait for the exit code (SIGKILL after the timeout)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def service_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment for the service: PATH and HOME only, plus `extra`."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    # No drain by default: tests that stop the service do not wait for a load balancer.
    env.update({"LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1", "DRAIN_DELAY_SECONDS": "0"})
    env["REGISTRATION_MAX_PER_ADDRESS"] = str(TEST_REGISTRATIONS_PER_ADDRESS)
    env.update(extra or {})
    return env


def run_command(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m service ARGS` to its end with a clean environment plus `env`.

    `cwd` selects the code as for `running_service` (default: this checkout).
    """
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        cwd=cwd or PROJECT_ROOT,
        env=service_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def running_service(
    extra_env: Mapping[str, str] | None = None,
    *,
    cwd: Path | None = None,
    wait: bool = True,
    args: tuple[str, ...] = ("serve",),
    python: str | Path | None = None,
) -> Iterator[ServiceProcess]:
    """Start `python -m service serve` on free ports; stop it (SIGTERM) afterwards.

    `cwd` also selects the code: `python -m` imports the `service` package of the
    working directory when it has one. `python` is another interpreter (a release's
    own environment); the default is this one.
    """
    port, metrics_port = free_port(), free_port()
    env = service_env({"PORT": str(port), "METRICS_PORT": str(metrics_port), **(extra_env or {})})
    workdir = cwd or Path(tempfile.mkdtemp(prefix="tasks-api-run-"))
    log_path = workdir / f"service-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [str(python or sys.executable), "-m", "service", *args],
            cwd=workdir,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    handle = ServiceProcess(process, port, metrics_port, log_path, env)
    try:
        if wait:
            handle.wait_ready()
        yield handle
    finally:
        handle.stop(timeout=float(env.get("DRAIN_DELAY_SECONDS", "5")) + 30)
        if process.poll() is None:  # pragma: no cover - last resort
            os.killpg(process.pid, signal.SIGKILL)
