"""The overload scenario: 4 x the sustainable rate, open loop, and what the service makes of it.

The sustainable rate is measured first, in the same run: wrk's closed-loop peak
of the service on the same mix (80 % GET by id, 20 % POST), and again after the
overload; goodput is compared with the mean of the two. Then the open-loop
generator (tests/load/openloop.py, in its own process) offers `factor` times
that rate for `duration` seconds, with the kubelet's probes and a Prometheus
scrape beside it. Both measurements run with the clients on a CPU of their
own and the service on the others (tests/load/cpus.py), and the generator opens
`warm_connections` keep-alive connections before its schedule starts, as an
ingress keeps a pool to each pod. Reported: goodput (2xx answers within the client timeout, per
second) against the peak, the p99 of the shed answers (503 with Retry-After),
the probes' p99 and whether each was answered 200 in time, and whether every
201 is in the database (its rows counted after the run).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from tests.load.checks import Check
from tests.load.cpus import Split, pin_self, pinned_tree, split_cpus
from tests.load.loadgen import Load, RunResult, run_wrk
from tests.load.openloop import Outcome
from tests.load.overload_summary import (
    created_ids,
    format_overload,
    overload_checks,
    summarise_outcomes,
)
from tests.load.seed import count_tagged, missing_tasks
from tests.load.targets import Target
from tests.support.server import PROJECT_ROOT

IDLE_LATENCY_S = 0.2


@dataclass(frozen=True)
class OverloadSettings:
    """How hard, how long, and how patient the overload's clients are."""

    factor: float = 4.0
    duration: float = 10.0
    timeout: float = 2.0  # an API answer later than this is a failure (wrk's default too)
    probe_timeout: float = 2.0  # the chart's liveness and startup probe timeout
    probe_rate: float = 5.0  # per probe and second, so that a p99 means something
    create_share: float = 0.2
    warm_connections: int = 128  # keep-alive connections open before the schedule starts
    split_cpus: bool = True  # clients on a CPU of their own, for the peak and the overload


def wait_idle(target: Target, timeout: float = 120.0) -> float:
    """Wait until /healthz answers fast again (the queue drained); the seconds it took."""
    started = time.monotonic()
    with httpx.Client(timeout=5.0) as client:
        while time.monotonic() - started < timeout:
            asked = time.monotonic()
            with contextlib.suppress(httpx.HTTPError):
                answered = client.get(f"{target.base_url}/healthz").status_code == 200
                if answered and time.monotonic() - asked < IDLE_LATENCY_S:
                    return time.monotonic() - started
            time.sleep(0.5)
    return time.monotonic() - started


def generate(
    settings: OverloadSettings,
    target: Target,
    *,
    rate: float,
    token_file: Path,
    ids_file: Path,
    tag: str,
    output: Path,
    cpus: Sequence[int] = (),
) -> tuple[list[Outcome], float]:
    """Run the open-loop generator in its own process; its outcomes and its CPU seconds."""
    argv = [
        sys.executable,
        "-m",
        "tests.load.openloop",
        f"--port={target.port}",
        f"--rate={rate:.3f}",
        f"--duration={settings.duration:g}",
        f"--create-share={settings.create_share:g}",
        f"--probe-rate={settings.probe_rate:g}",
        f"--timeout={settings.timeout:g}",
        f"--probe-timeout={settings.probe_timeout:g}",
        f"--token-file={token_file}",
        f"--ids-file={ids_file}",
        f"--tag={tag}",
        f"--warm-connections={settings.warm_connections}",
        f"--output={output}",
    ]
    if target.metrics_port is not None:
        argv.append(f"--metrics-port={target.metrics_port}")
    before = _children_cpu()
    subprocess.run(
        argv,
        cwd=PROJECT_ROOT,
        check=True,
        timeout=settings.duration + settings.timeout + 120,
        preexec_fn=pin_self(cpus),
    )
    cpu = _children_cpu() - before
    return [Outcome(**json.loads(line)) for line in output.read_text().splitlines() if line], cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_overload(
    settings: OverloadSettings,
    load: Load,
    target: Target,
    *,
    token: str,
    ids_file: Path,
    dsn: str,
    out: Path,
    log: Any,
) -> tuple[dict[str, Any], list[Check], RunResult]:
    """Peak first, then the open-loop overload; the report part, its checks, the peak run."""
    split = split_cpus() if settings.split_cpus else Split()
    service_pid = target.process.pid if target.process is not None else None
    with pinned_tree(service_pid, split.service) as pinned:
        if split.service:
            log(
                f"overload: clients on CPU {_cpus(split.clients)}, "
                f"{pinned} service threads on CPU {_cpus(split.service)}"
            )
        inputs = _Inputs(token, ids_file, dsn, out, log)
        part, checks, peak = _peak_and_overload(
            settings, replace(load, cpus=split.clients), target, split, inputs
        )
    part["cpus"] = asdict(split)
    return part, checks, peak


def _cpus(cpus: Sequence[int]) -> str:
    return ",".join(str(cpu) for cpu in cpus)


def describe_setup(split: Split, warm_connections: int) -> str:
    """Where the clients and the service ran, and how many connections were warmed."""
    where = "clients and service on all CPUs"
    if split.clients:
        where = f"clients (wrk, generator) on CPU {_cpus(split.clients)}, "
        where += f"service on CPU {_cpus(split.service)}"
    return f"{where}; {warm_connections} keep-alive connections opened before the schedule"


@dataclass(frozen=True)
class _Inputs:
    """What the overload needs of the benchmark: the user's token, the ids, where to write."""

    token: str
    ids_file: Path
    dsn: str
    out: Path
    log: Any


def _peak_and_overload(
    settings: OverloadSettings, load: Load, target: Target, split: Split, inputs: _Inputs
) -> tuple[dict[str, Any], list[Check], RunResult]:
    token, ids_file, dsn, out, log = (
        inputs.token,
        inputs.ids_file,
        inputs.dsn,
        inputs.out,
        inputs.log,
    )

    def closed_loop(round_number: int) -> RunResult:
        return run_wrk(
            load,
            base_url=target.base_url,
            scenario="mixed",
            ids_file=ids_file,
            token=token,
            target=target.name,
            round_number=round_number,
        )

    peak = closed_loop(0)
    # The sustainable rate is what the service answers successfully: with shedding, wrk's
    # connections beyond the bound get quick 503s that are no capacity at all.
    rate = settings.factor * peak.success_rps
    log(f"overload: closed-loop peak {peak.success_rps:.0f} req/s, offering {rate:.0f} req/s")
    token_file = out / "overload-token.txt"
    token_file.write_text(token)
    token_file.chmod(0o600)
    tag = secrets.token_hex(4)
    try:
        outcomes, generator_cpu = generate(
            settings,
            target,
            rate=rate,
            token_file=token_file,
            ids_file=ids_file,
            tag=tag,
            output=out / "overload-outcomes.jsonl",
            cpus=split.clients,
        )
    finally:
        token_file.unlink()
    log(f"overload: queue drained {wait_idle(target):.1f} s after the generator stopped")
    # Measured again after the overload: the machine's own drift between the peak and
    # the overload would otherwise move the ratio as much as the service does.
    after = closed_loop(1)
    peak_rps = (peak.success_rps + after.success_rps) / 2
    log(f"overload: closed-loop peak after it {after.success_rps:.0f} req/s")
    summary = summarise_outcomes(
        outcomes,
        duration=settings.duration,
        planned_rps=rate,
        peak_rps=peak_rps,
        generator_cpu_s=generator_cpu,
    )
    ids = created_ids(outcomes)
    created = sum(1 for o in outcomes if o.status == 201)
    # A 201 without a Location cannot be found again: it counts as lost.
    unverifiable = created - len(ids)
    missing = asyncio.run(missing_tasks(dsn, ids))
    committed = asyncio.run(count_tagged(dsn, tag))
    checks = overload_checks(summary, created, len(missing) + unverifiable, settings.probe_timeout)
    part = {
        "settings": asdict(settings),
        "summary": asdict(summary),
        "created": created,
        "missing": missing,
        "created_without_location": unverifiable,
        "rows_of_the_run": committed,
        "table": format_overload(
            summary,
            created=created,
            committed=committed,
            probe_timeout=settings.probe_timeout,
            setup=describe_setup(split, settings.warm_connections)
            + f"; peak {peak.success_rps:.0f} req/s before the overload and "
            f"{after.success_rps:.0f} after, the ratio is to their mean",
        ),
        "peak_after_run": after.as_dict(),
    }
    return part, checks, peak
