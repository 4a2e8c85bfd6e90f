"""Profile one tasks-api worker under wrk load with py-spy; print where the time goes.

    uv run python -m tests.load.profile --scenario get --duration 10

Starts the service like the benchmark does (one worker, telemetry exporting to
the local sink, unless --no-telemetry), seeds a user, drives it with wrk and
samples the worker with `py-spy record`. Writes a speedscope profile and prints
the functions with the most samples (inclusive and self). Installs nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.load.bench import RESULTS, log
from tests.load.loadgen import INSTALL_HINT, SCENARIOS, Load, find_wrk, run_wrk
from tests.load.seed import create_bench_database, seed
from tests.load.sink import OtlpSink
from tests.load.targets import service_target
from tests.support.databases import DEFAULT_POSTGRES, drop_postgres_database, url_string

TOP = 25


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m tests.load.profile", description=__doc__)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="get")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds sampled")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--no-telemetry", action="store_true", help="OTEL_SDK_DISABLED=true")
    parser.add_argument("--env", action="append", default=[], help="extra KEY=VALUE")
    parser.add_argument("--admin-url", default=DEFAULT_POSTGRES)
    return parser.parse_args(argv)


def summarise(collapsed: Path) -> str:
    """Top functions by inclusive and by self samples, from py-spy's collapsed stacks."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples", "", "inclusive:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(TOP)]
    lines += ["", "self:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(TOP)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Profile; 2 when wrk or py-spy is missing."""
    args = parse_args(argv)
    wrk = find_wrk()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if wrk is None:
        sys.stderr.write(INSTALL_HINT + "\n")
        return 2
    if not Path(py_spy).exists():
        sys.stderr.write("py-spy is missing; install the dev group with:\n  uv sync --group dev\n")
        return 2
    out = RESULTS / f"profile-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    out.mkdir(parents=True)
    admin = make_url(args.admin_url)
    database = asyncio.run(create_bench_database(admin))
    try:
        with OtlpSink() as sink:
            target = service_target(
                workers=1,
                database_url=url_string(database),
                jwt_secret=secrets.token_hex(32),
                otlp_endpoint=sink.endpoint,
                log_dir=out,
            )
            target.env |= dict(item.split("=", 1) for item in args.env)
            if args.no_telemetry:
                target.env["OTEL_SDK_DISABLED"] = "true"
            target.start()
            ids = out / "task-ids.txt"
            user = asyncio.run(seed(database, target.base_url, 2000, ids))
            (worker,) = target.worker_pids()
            load = Load(wrk=wrk, duration=args.duration + 4, connections=args.connections)
            result: list[object] = []

            def drive() -> None:
                result.append(
                    run_wrk(
                        load,
                        base_url=target.base_url,
                        scenario=args.scenario,
                        ids_file=ids,
                        token=user.token,
                        target="service",
                        round_number=1,
                    )
                )

            driver = threading.Thread(target=drive)
            driver.start()
            collapsed = out / "profile.txt"
            sampler = [py_spy, "record", "--pid", str(worker), "--duration", f"{args.duration:g}"]
            subprocess.run(
                [*sampler, "--rate", "200", "--format", "raw", "--output", str(collapsed)],
                check=True,
                capture_output=True,
            )
            driver.join()
            target.stop()
        log(f"wrk: {result[0]}")
        print(summarise(collapsed))
        print(f"\ncollapsed stacks: {collapsed}")
    finally:
        asyncio.run(drop_postgres_database(admin, database))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
