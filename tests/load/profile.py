"""Profile one worker under wrk load with py-spy; print where the time goes.

    uv run python -m tests.load.profile --scenario get --duration 10
    uv run python -m tests.load.profile --target instrumented
    uv run python -m tests.load.profile --service-source /tmp/before

Starts the service like the benchmark does (one worker, telemetry exporting to
the local sink, unless --no-telemetry), seeds a user through it, and profiles
the chosen target (the service, or the instrumented or bare baseline, which then
runs alone): drives it with wrk and samples its worker with `py-spy record`.
Writes py-spy's collapsed stacks and prints the functions with the most samples
(inclusive and self). Installs nothing.
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
from tests.load.seed import asyncpg_dsn, create_bench_database, seed
from tests.load.sink import OtlpSink
from tests.load.targets import Target, bare_target, instrumented_target, service_target
from tests.support.databases import DEFAULT_POSTGRES, drop_postgres_database, url_string

TOP = 25


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m tests.load.profile", description=__doc__)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="get")
    parser.add_argument("--target", choices=("service", "instrumented", "bare"), default="service")
    parser.add_argument("--service-source", type=Path, help="the service of another tree")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds sampled")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--no-telemetry", action="store_true", help="OTEL_SDK_DISABLED=true")
    parser.add_argument("--env", action="append", default=[], help="service KEY=VALUE")
    parser.add_argument("--admin-url", default=DEFAULT_POSTGRES)
    return parser.parse_args(argv)


def package_of(frame: str) -> str:
    """Which package a py-spy frame `function (/full/path.py:line)` belongs to."""
    path = frame[frame.rfind("(") + 1 : frame.rfind(":")]
    if "site-packages/" in path:
        parts = path.split("site-packages/", 1)[1].split("/")
        if parts[0] == "opentelemetry" and len(parts) > 2:
            return f"opentelemetry.{parts[1]}"  # sdk, exporter, instrumentation, ...
        return parts[0].removesuffix(".py")
    for marker, name in (("/service/", "service"), ("/tests/load/", "tests.load")):
        if marker in path:
            return name
    if "/lib/python3" in path or path.startswith("<frozen"):
        return "stdlib"
    return "other"


def summarise(collapsed: Path) -> str:
    """Top functions (inclusive, self) and packages (self), from py-spy's collapsed stacks."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        packages[package_of(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "0 samples: the worker held the GIL in none of them"
    lines = [f"{total} samples (threads holding the GIL)", "", "self, by package:"]
    lines += [f"{100 * n / total:5.1f}%  {name}" for name, n in packages.most_common()]
    lines += ["", "inclusive:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(TOP)]
    lines += ["", "self:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(TOP)]
    return "\n".join(lines)


def baseline(name: str, dsn: str, owner_id: str, sink: OtlpSink, out: Path) -> Target:
    """One worker of the instrumented or the bare baseline."""
    if name == "instrumented":
        return instrumented_target(
            workers=1, dsn=dsn, owner_id=owner_id, otlp_endpoint=sink.endpoint, log_dir=out
        )
    return bare_target(workers=1, dsn=dsn, owner_id=owner_id, log_dir=out)


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
            service = service_target(
                workers=1,
                database_url=url_string(database),
                jwt_secret=secrets.token_hex(32),
                otlp_endpoint=sink.endpoint,
                log_dir=out,
                source=args.service_source,
            )
            service.env |= dict(item.split("=", 1) for item in args.env)
            if args.no_telemetry:
                service.env["OTEL_SDK_DISABLED"] = "true"
            target = service
            try:
                service.start()
                ids = out / "task-ids.txt"
                user = asyncio.run(seed(database, service.base_url, 2000, ids))
                if args.target != "service":
                    service.stop()  # the baseline runs alone, as the service would
                    target = baseline(args.target, asyncpg_dsn(database), user.user_id, sink, out)
                    target.start()
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
                            token=user.token if target is service else None,
                            target=target.name,
                            round_number=1,
                        )
                    )

                driver = threading.Thread(target=drive)
                driver.start()
                collapsed = out / "profile.txt"
                # --gil: samples of the thread running Python, so that idle export threads
                # and the event loop's wait do not count as time spent.
                sampler = [py_spy, "record", "--pid", str(worker), "--gil", "--full-filenames"]
                sampler += ["--duration", f"{args.duration:g}"]
                subprocess.run(
                    [*sampler, "--rate", "200", "--format", "raw", "--output", str(collapsed)],
                    check=True,
                    capture_output=True,
                )
                driver.join()
            finally:
                service.stop()
                target.stop()
        log(f"wrk: {result[0]}")
        print(summarise(collapsed))
        print(f"\ncollapsed stacks: {collapsed}")
    finally:
        asyncio.run(drop_postgres_database(admin, database))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
