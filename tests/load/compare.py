"""Compare service trees step by step: worker CPU per request and req/s, interleaved.

    uv run python -m tests.load.compare --scenario get --rounds 6 /tmp/before .

Starts the service of each tree (`--service-source` of the benchmark: that tree's
`service` package, this environment's dependencies), all at once on one fresh
database, seeds it, and drives each in turn with wrk for `--duration` seconds per round,
the order reversed every other round. Per run it reads the CPU time (user + system)
that the service's workers used, from /proc, and divides it by the requests answered:
on a shared machine the CPU a request costs moves much less than the requests per
second, which also depend on what else got the cores. Prints every run, then per tree
the medians and the median of the per-round ratios to the first tree.

Workers are not recycled during the comparison (MAX_REQUESTS=0): a worker that exits
mid-run would take its CPU time with it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.load.bench import RESULTS, log
from tests.load.loadgen import INSTALL_HINT, SCENARIOS, Load, find_wrk, run_wrk
from tests.load.seed import create_bench_database, seed
from tests.load.sink import OtlpSink
from tests.load.targets import Target, service_target
from tests.support.databases import DEFAULT_POSTGRES, drop_postgres_database, url_string
from tests.support.processes import stat_fields

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Run:
    """One wrk run against one tree."""

    tree: str
    round: int
    requests: int
    rps: float
    cpu_seconds: float

    @property
    def cpu_us_per_request(self) -> float:
        """Worker CPU per answered request, in microseconds."""
        if self.requests <= 0:
            raise ValueError(f"{self.tree} answered no request in round {self.round}")
        return 1e6 * self.cpu_seconds / self.requests


@dataclass(frozen=True)
class Summary:
    """One tree's medians, and the medians of its per-round ratios to the first tree."""

    tree: str
    cpu_us_per_request: float
    rps: float
    cpu_ratio: float
    rps_ratio: float


def cpu_seconds_of_stat(stat: str) -> float:
    """User + system CPU seconds from the text of /proc/<pid>/stat."""
    fields = stat_fields(stat)  # utime and stime are fields 14 and 15 of proc(5)
    return (int(fields[11]) + int(fields[12])) / _TICKS


def cpu_seconds(pids: Sequence[int]) -> float:
    """The CPU seconds the processes used so far; all of them must still run."""
    return sum(cpu_seconds_of_stat(Path(f"/proc/{pid}/stat").read_text()) for pid in pids)


def summarise(runs: Sequence[Run], trees: Sequence[str]) -> list[Summary]:
    """Medians per tree and their ratios to the first tree, round by round."""
    by_tree: dict[str, dict[int, Run]] = {tree: {} for tree in trees}
    for run in runs:
        by_tree[run.tree][run.round] = run
    first = by_tree[trees[0]]
    summaries = []
    for tree in trees:
        own = by_tree[tree]
        rounds = sorted(set(own) & set(first))
        if not rounds:
            raise ValueError(f"{tree} has no round in common with {trees[0]}")
        summaries.append(
            Summary(
                tree=tree,
                cpu_us_per_request=statistics.median(
                    run.cpu_us_per_request for run in own.values()
                ),
                rps=statistics.median(run.rps for run in own.values()),
                cpu_ratio=statistics.median(
                    own[r].cpu_us_per_request / first[r].cpu_us_per_request for r in rounds
                ),
                rps_ratio=statistics.median(own[r].rps / first[r].rps for r in rounds),
            )
        )
    return summaries


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m tests.load.compare", description=__doc__)
    parser.add_argument("trees", nargs="+", type=Path, help="trees whose service to compare")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="get")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--admin-url", default=DEFAULT_POSTGRES)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration <= 0:
        parser.error("--rounds must be at least 1 and --duration positive")
    missing = [str(tree) for tree in args.trees if not (tree / "service").is_dir()]
    if missing:
        parser.error(f"no service package in: {', '.join(missing)}")
    return args


def _start(args: argparse.Namespace, database_url: str, stack: ExitStack) -> list[Target]:
    out = RESULTS / "compare"
    out.mkdir(parents=True, exist_ok=True)
    jwt_secret = secrets.token_hex(32)  # shared: one token is valid on every tree
    targets = []
    for index, tree in enumerate(args.trees):
        sink = stack.enter_context(OtlpSink())
        target = service_target(
            workers=args.workers,
            database_url=database_url,
            jwt_secret=jwt_secret,
            otlp_endpoint=sink.endpoint,
            log_dir=out,
            name=f"tree{index}",
            source=tree.resolve(),
        )
        target.env["MAX_REQUESTS"] = "0"
        log(f"cold start {tree}: {target.start():.2f} s")
        stack.callback(target.stop)
        targets.append(target)
    return targets


def _drive(args: argparse.Namespace, wrk: str, targets: Sequence[Target], token: str) -> list[Run]:
    ids = RESULTS / "compare" / "task-ids.txt"
    load = Load(wrk=wrk, duration=args.duration, connections=args.connections)
    warm = Load(wrk=wrk, duration=2.0, connections=args.connections)
    names: Mapping[str, str] = {
        t.name: str(tree) for t, tree in zip(targets, args.trees, strict=True)
    }

    def once(target: Target, how: Load, number: int) -> Run:
        pids = target.worker_pids()
        before = cpu_seconds(pids)
        result = run_wrk(
            how,
            base_url=target.base_url,
            scenario=args.scenario,
            ids_file=ids,
            token=token,
            target=target.name,
            round_number=number,
        )
        used = cpu_seconds(pids) - before
        return Run(names[target.name], number, result.requests, result.rps, used)

    for target in targets:
        once(target, warm, 0)
    runs = []
    for number in range(1, args.rounds + 1):
        order = targets if number % 2 else list(reversed(targets))
        for target in order:
            run = once(target, load, number)
            print(
                f"round {number} {run.tree}: {run.rps:.0f} req/s, "
                f"{run.cpu_us_per_request:.0f} us CPU per request",
                flush=True,
            )
            runs.append(run)
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    """Compare the trees; 2 when wrk is missing."""
    args = parse_args(argv)
    wrk = find_wrk()
    if wrk is None:
        sys.stderr.write(INSTALL_HINT + "\n")
        return 2
    admin = make_url(args.admin_url)
    database = asyncio.run(create_bench_database(admin))
    try:
        with ExitStack() as stack:
            targets = _start(args, url_string(database), stack)
            ids = RESULTS / "compare" / "task-ids.txt"
            user = asyncio.run(seed(database, targets[0].base_url, 200, ids))
            runs = _drive(args, wrk, targets, user.token)
    finally:
        asyncio.run(drop_postgres_database(admin, database))
    trees = [str(tree) for tree in args.trees]
    for summary in summarise(runs, trees):
        print(
            f"{summary.tree}: median {summary.cpu_us_per_request:.0f} us CPU per request "
            f"(x{summary.cpu_ratio:.3f} of the first), median {summary.rps:.0f} req/s "
            f"(x{summary.rps_ratio:.3f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
