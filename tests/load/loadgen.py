"""Drive one target with wrk and the scenario script; parse what it reports."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.load.cpus import pin_self

SCRIPT = Path(__file__).with_name("scenario.lua")
SCENARIOS = {
    "get": "GET /api/v1/tasks/{id}",
    "list": "GET /api/v1/tasks?limit=50",
    "create": "POST /api/v1/tasks",
    "mixed": "80 % GET /tasks/{id}, 20 % POST /tasks",
}
INSTALL_HINT = "wrk is not installed; install it with:\n  sudo apt-get install -y wrk"
RESULT_PREFIX = "BENCH_RESULT "


class LoadGeneratorError(RuntimeError):
    """wrk failed or printed no result."""


@dataclass(frozen=True)
class RunResult:
    """One wrk run against one target."""

    target: str
    scenario: str
    round: int
    requests: int
    seconds: float
    errors: int
    error_kinds: dict[str, int]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        """Requests per second of the run."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def success_rps(self) -> float:
        """Answers per second that were not errors (a shed 503 is an error, not capacity)."""
        good = self.requests - self.error_kinds.get("status", 0)
        return good / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the derived requests/s."""
        return asdict(self) | {
            "rps": round(self.rps, 1),
            "success_rps": round(self.success_rps, 1),
        }


def find_wrk() -> str | None:
    """The wrk executable, if installed."""
    return shutil.which("wrk")


def parse_result(output: str, *, target: str, scenario: str, round_number: int) -> RunResult:
    """The RunResult from wrk's output (the script's BENCH_RESULT line)."""
    for line in output.splitlines():
        if line.startswith(RESULT_PREFIX):
            data = json.loads(line.removeprefix(RESULT_PREFIX))
            break
    else:
        raise LoadGeneratorError(f"wrk printed no result:\n{output}")
    latency = data["latency_us"]
    errors: dict[str, int] = data["errors"]
    return RunResult(
        target=target,
        scenario=scenario,
        round=round_number,
        requests=int(data["requests"]),
        seconds=data["duration_us"] / 1e6,
        errors=sum(errors.values()),
        error_kinds=errors,
        p50_ms=latency["p50"] / 1000,
        p95_ms=latency["p95"] / 1000,
        p99_ms=latency["p99"] / 1000,
        mean_ms=latency["mean"] / 1000,
        max_ms=latency["max"] / 1000,
    )


@dataclass(frozen=True)
class Load:
    """How hard and how long to drive a target."""

    wrk: str
    duration: float
    connections: int
    threads: int = 2
    timeout: float = 5.0
    cpus: tuple[int, ...] = ()  # where wrk may run (tests/load/cpus.py); empty: anywhere


def run_wrk(
    load: Load,
    *,
    base_url: str,
    scenario: str,
    ids_file: Path,
    token: str | None,
    target: str,
    round_number: int,
) -> RunResult:
    """Run wrk once (it stops by itself after the duration) and parse its result."""
    argv = [
        load.wrk,
        f"--threads={load.threads}",
        f"--connections={load.connections}",
        f"--duration={load.duration:g}s",
        f"--timeout={load.timeout:g}s",
        f"--script={SCRIPT}",
        base_url,
        "--",
        scenario,
        str(ids_file),
        token or "-",
    ]
    completed = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=load.duration + load.timeout + 30,
        check=False,
        preexec_fn=pin_self(load.cpus),
    )
    if completed.returncode != 0:
        raise LoadGeneratorError(f"wrk exited {completed.returncode}:\n{completed.stderr}")
    return parse_result(
        completed.stdout, target=target, scenario=scenario, round_number=round_number
    )
