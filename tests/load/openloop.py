"""An open-loop HTTP load generator: requests leave on a fixed schedule, answered or not.

wrk, like every closed-loop tool, sends a connection's next request only after
the previous answer: a server that slows down is offered less, and its queue
hides in the client. wrk2 keeps a fixed rate but is not packaged in Debian, and
wrk's Lua `delay()` still waits for each answer. So this generator, in Python:

- keeps a fixed schedule (constant intervals, as wrk2 does) whatever the answers;
- takes an idle keep-alive connection or opens a new one for every request (one
  asyncio protocol per connection, no task per request), so a
  slow server sees its in-flight requests grow, as with many independent clients;
- measures every latency from the request's *scheduled* time, so time spent late
  in the client counts too (no coordinated omission), and reports its own lag;
- sends probes like the kubelet: a new connection each, `Connection: close`.

It runs in its own process (`python -m tests.load.overload` starts it) on uvloop,
asyncio protocols and httptools, so that it costs little CPU next to the server.

    python -m tests.load.openloop --port 8000 --rate 1600 --duration 10 \\
        --token-file token --ids-file ids --output outcomes.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

import httptools

from tests.load.plan import (
    API_KINDS,
    PROBE_PATHS,
    Answer,
    Outcome,
    Planned,
    Requests,
    merge,
    probe_schedule,
    schedule,
)

__all__ = [
    "API_KINDS",
    "PROBE_PATHS",
    "Generator",
    "Outcome",
    "Planned",
    "Requests",
    "merge",
    "probe_schedule",
    "schedule",
]


@dataclass(eq=False)
class _Pending:
    """One request on its way: where its outcome goes and until when it may take."""

    index: int
    item: Planned
    due: float
    lag_ms: float
    deadline: float
    port: int
    raw: bytes
    probe: bool
    done: bool = False
    link: _Link | None = None
    connecting: asyncio.Task[None] | None = None


class _Link(asyncio.Protocol):
    """One connection to the server, one request at a time (HTTP/1.1 without pipelining).

    A protocol rather than streams and a task per request: at thousands of
    requests a second the generator's own CPU is what it must keep small, since
    it shares the machine with the server it measures.
    """

    def __init__(self, generator: Generator, port: int) -> None:
        self.generator = generator
        self.port = port
        self.transport: asyncio.Transport | None = None
        self.pending: _Pending | None = None
        self.answer: Answer | None = None
        self.dropped = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport; they behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, pending: _Pending) -> None:
        assert self.transport is not None
        self.pending = pending
        pending.link = self
        answer = Answer()
        answer.parser = httptools.HttpResponseParser(answer)
        self.answer = answer
        self.transport.write(pending.raw)

    def data_received(self, data: bytes) -> None:
        answer, pending = self.answer, self.pending
        if answer is None or pending is None or answer.parser is None:
            self.generator.drop(self)  # an answer nobody asked for
            return
        try:
            answer.parser.feed_data(data)
        except httptools.HttpParserError:
            self.pending = None
            self.generator.failed(pending, "protocol")
            self.generator.drop(self)
            return
        if answer.complete:
            self.pending = None
            self.generator.answered(pending, answer, self)

    def connection_lost(self, exc: Exception | None) -> None:
        pending, self.pending = self.pending, None
        self.generator.drop(self)
        if pending is not None:
            self.generator.failed(pending, "closed")


@dataclass
class Generator:
    """Sends a schedule of requests against one server and records every outcome."""

    requests: Requests
    timeout: float = 2.0
    probe_timeout: float = 2.0
    max_connections: int = 8000
    warm_connections: int = 0
    open_connections: int = 0
    sweep_interval: float = 0.005  # how often deadlines are checked: the timeouts' resolution
    _idle: dict[int, list[_Link]] = field(default_factory=dict)
    _outcomes: list[Outcome | None] = field(default_factory=list)
    _waiting: dict[bool, deque[_Pending]] = field(default_factory=dict)
    _left: int = 0
    _finished: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, plan: Sequence[Planned]) -> list[Outcome]:
        """Send every planned request at its time; return the outcomes in plan order."""
        loop = asyncio.get_running_loop()
        self._outcomes = [None] * len(plan)
        self._waiting = {False: deque(), True: deque()}  # in send order, so deadlines in order
        self._left = len(plan)
        self._finished = asyncio.Event()
        if not plan:
            return []
        await self.warm_up()
        sweeper = loop.create_task(self._sweep())
        start = loop.time() + 0.05
        counters = dict.fromkeys((*API_KINDS, *PROBE_PATHS), 0)
        for index, item in enumerate(plan):
            due = start + item.at
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._send(index, item, counters[item.kind], due, loop.time())
            counters[item.kind] += 1
        await self._finished.wait()
        sweeper.cancel()
        self.close()
        outcomes = [outcome for outcome in self._outcomes if outcome is not None]
        assert len(outcomes) == len(plan), "every planned request has its outcome"
        return outcomes

    async def warm_up(self) -> None:
        """Open `warm_connections` keep-alive API connections before the schedule starts.

        As an ingress or a mesh keeps a pool of connections to each pod: the
        schedule's first second then measures the service, not a connection storm.
        """
        loop = asyncio.get_running_loop()
        port = self.requests.port
        idle = self._idle.setdefault(port, [])
        count = min(self.warm_connections, self.max_connections - self.open_connections)
        for _ in range(count):
            _, link = await loop.create_connection(
                lambda: _Link(self, port), self.requests.host, port
            )
            self.open_connections += 1
            idle.append(link)

    def close(self) -> None:
        """Close the idle keep-alive connections."""
        for links in self._idle.values():
            for link in links:
                self.drop(link)
        self._idle.clear()

    def drop(self, link: _Link) -> None:
        """Close a connection, counted once however often it is dropped."""
        if link.dropped:
            return
        link.dropped = True
        self.open_connections -= 1
        if link.transport is not None:
            link.transport.close()

    def _send(self, index: int, item: Planned, number: int, due: float, now: float) -> None:
        probe = item.kind in PROBE_PATHS
        port, raw = self.requests.build(item.kind, number)
        deadline = due + (self.probe_timeout if probe else self.timeout)
        pending = _Pending(
            index, item, due, max(0.0, (now - due) * 1000), deadline, port, raw, probe
        )
        link = None
        idle = self._idle.setdefault(port, [])
        while not probe and idle and link is None:
            candidate = idle.pop()
            link = None if candidate.dropped else candidate
        if link is not None:
            link.send(pending)
        elif self.open_connections >= self.max_connections:
            self.failed(pending, "client_limit")
            return
        else:
            # Counted before the connect completes, so that the next requests see the limit.
            self.open_connections += 1
            pending.connecting = asyncio.get_running_loop().create_task(self._connect(pending))
        self._waiting[probe].append(pending)

    async def _connect(self, pending: _Pending) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, link = await loop.create_connection(
                lambda: _Link(self, pending.port), self.requests.host, pending.port
            )
        except OSError:
            self.open_connections -= 1
            self.failed(pending, "connect")
            return
        except asyncio.CancelledError:  # timed out while connecting
            self.open_connections -= 1
            return
        pending.connecting = None
        if pending.done:
            self.drop(link)
        else:
            link.send(pending)

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.sweep_interval)
            now = loop.time()
            for waiting in self._waiting.values():
                while waiting and (waiting[0].done or waiting[0].deadline <= now):
                    pending = waiting.popleft()
                    if not pending.done:
                        self._time_out(pending)

    def _time_out(self, pending: _Pending) -> None:
        link, pending.link = pending.link, None
        if link is not None:
            link.pending = None
            self.drop(link)
        if pending.connecting is not None:
            pending.connecting.cancel()
        self.failed(pending, "timeout")

    def _record(self, pending: _Pending, outcome: Outcome) -> None:
        if pending.done:
            return
        pending.done = True
        self._outcomes[pending.index] = outcome
        self._left -= 1
        if self._left == 0:
            self._finished.set()

    def failed(self, pending: _Pending, error: str) -> None:
        """Record a request that got no answer."""
        item = pending.item
        self._record(pending, Outcome(item.kind, item.at, pending.lag_ms, None, None, error=error))

    def answered(self, pending: _Pending, answer: Answer, link: _Link) -> None:
        """Record a whole answer; keep its connection for the next request if it may."""
        loop_time = asyncio.get_running_loop().time()
        if pending.done:  # answered after its deadline was swept: it stays a timeout
            self.drop(link)
            return
        if answer.keep_alive and not pending.probe:
            self._idle[pending.port].append(link)
        else:
            self.drop(link)
        status = answer.parser.get_status_code() if answer.parser is not None else 0
        created = None
        if answer.location is not None and status == 201:
            created = answer.location.decode("latin-1").rstrip("/").rsplit("/", 1)[-1]
        item = pending.item
        self._record(
            pending,
            Outcome(
                item.kind,
                item.at,
                pending.lag_ms,
                (loop_time - pending.due) * 1000,
                status,
                answer.retry_after,
                None,
                created,
                answer.problem(),
            ),
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m tests.load.openloop", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--metrics-port", type=int, help="where /metrics is (default: --port)")
    parser.add_argument("--rate", type=float, required=True, help="API requests/s")
    parser.add_argument("--duration", type=float, required=True, help="seconds of schedule")
    parser.add_argument("--create-share", type=float, default=0.2)
    parser.add_argument("--probe-rate", type=float, default=5.0, help="per probe, per second")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds an API answer may take")
    parser.add_argument("--probe-timeout", type=float, default=2.0)
    parser.add_argument("--token-file", type=Path, required=True)
    parser.add_argument("--ids-file", type=Path, required=True)
    parser.add_argument("--tag", default="run", help="in the titles of the created tasks")
    parser.add_argument(
        "--warm-connections", type=int, default=0, help="keep-alive connections opened first"
    )
    parser.add_argument("--output", type=Path, required=True, help="outcomes, JSON lines")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one schedule and write its outcomes."""
    import uvloop

    args = parse_args(argv)
    requests = Requests(
        host=args.host,
        port=args.port,
        token=args.token_file.read_text().strip(),
        task_ids=[line for line in args.ids_file.read_text().split() if line],
        metrics_port=args.metrics_port,
        tag=args.tag,
    )
    plan = merge(
        schedule(args.rate, args.duration, args.create_share),
        probe_schedule(args.probe_rate, args.duration, list(PROBE_PATHS)),
    )
    generator = Generator(
        requests,
        timeout=args.timeout,
        probe_timeout=args.probe_timeout,
        warm_connections=args.warm_connections,
    )
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        outcomes = runner.run(generator.run(plan))
    with args.output.open("w") as output:
        for outcome in outcomes:
            output.write(json.dumps(asdict(outcome)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
