"""An open-loop HTTP load generator: requests leave on a fixed schedule, answered or not.

wrk, like every closed-loop tool, sends a connection's next request only after
the previous answer: a server that slows down is offered less, and its queue
hides in the client. wrk2 keeps a fixed rate but is not packaged in Debian, and
wrk's Lua `delay()` still waits for each answer. So this generator, in Python:

- keeps a fixed schedule (constant intervals, as wrk2 does) whatever the answers;
- takes an idle keep-alive connection or opens a new one for every request, so a
  slow server sees its in-flight requests grow, as with many independent clients;
- measures every latency from the request's *scheduled* time, so time spent late
  in the client counts too (no coordinated omission), and reports its own lag;
- sends probes like the kubelet: a new connection each, `Connection: close`.

It runs in its own process (`python -m tests.load.overload` starts it) on uvloop,
raw sockets and httptools, so that it costs little CPU next to the server.

    python -m tests.load.openloop --port 8000 --rate 1600 --duration 10 \\
        --token-file token --ids-file ids --output outcomes.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httptools

API_KINDS = ("get", "create")
PROBE_PATHS = {"healthz": "/healthz", "readyz": "/readyz", "metrics": "/metrics"}
CHUNK = 65536


@dataclass(frozen=True)
class Planned:
    """One request of the schedule: when (seconds from the start) and what."""

    at: float
    kind: str


def schedule(rate: float, duration: float, create_share: float) -> list[Planned]:
    """API requests at constant intervals; exactly `create_share` of them creates, spread evenly."""
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be a positive number of requests/s, not {rate}")
    if not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be positive, not {duration}")
    if not 0.0 <= create_share <= 1.0:
        raise ValueError(f"create_share must be within [0, 1], not {create_share}")
    count = math.floor(rate * duration + 1e-9)
    plan = []
    credit = 0.0
    for number in range(count):
        # An accumulator rather than a random draw: the mix is exact in every window.
        credit += create_share
        kind = "get"
        if credit >= 1.0 - 1e-9:
            kind = "create"
            credit -= 1.0
        plan.append(Planned(number / rate, kind))
    return plan


def probe_schedule(rate: float, duration: float, probes: Sequence[str]) -> list[Planned]:
    """Each probe `rate` times a second, the probes staggered within each interval."""
    unknown = sorted(set(probes) - set(PROBE_PATHS))
    if unknown:
        raise ValueError(f"unknown probes: {', '.join(unknown)}")
    if not probes:
        return []
    plan = []
    for index, probe in enumerate(probes):
        offset = index / (len(probes) * rate)
        plan += [Planned(at.at + offset, probe) for at in schedule(rate, duration, 0.0)]
    return sorted(plan, key=lambda item: item.at)


def merge(*plans: Sequence[Planned]) -> list[Planned]:
    """One schedule of several, in time order (stable for equal times)."""
    return sorted((item for plan in plans for item in plan), key=lambda item: item.at)


@dataclass(frozen=True)
class Outcome:
    """What became of one planned request."""

    kind: str
    at: float
    lag_ms: float  # how late the generator sent it
    latency_ms: float | None  # from the scheduled time to the whole answer; None without one
    status: int | None
    retry_after: bool = False
    error: str | None = None  # connect, timeout, closed, protocol, client_limit
    created_id: str | None = None
    problem: str | None = None  # the problem+json `code` of a failed answer


@dataclass(frozen=True)
class Requests:
    """The raw requests of a run against one server."""

    host: str
    port: int
    token: str
    task_ids: Sequence[str]
    metrics_port: int | None = None
    tag: str = "run"

    def __post_init__(self) -> None:
        if not self.task_ids:
            raise ValueError("the GET requests need at least one task id")

    def build(self, kind: str, number: int) -> tuple[int, bytes]:
        """The port and bytes of the `number`-th request of this kind."""
        host = f"Host: {self.host}:{self.port}\r\n"
        if kind in PROBE_PATHS:
            port = self.metrics_port if kind == "metrics" and self.metrics_port else self.port
            head = f"GET {PROBE_PATHS[kind]} HTTP/1.1\r\nHost: {self.host}:{port}\r\n"
            return port, (head + "Connection: close\r\n\r\n").encode()
        auth = f"Authorization: Bearer {self.token}\r\nAccept: application/json\r\n"
        if kind == "get":
            task_id = self.task_ids[number % len(self.task_ids)]
            return self.port, f"GET /api/v1/tasks/{task_id} HTTP/1.1\r\n{host}{auth}\r\n".encode()
        if kind == "create":
            body = json.dumps({"title": f"overload {self.tag} {number}"}).encode()
            head = (
                f"POST /api/v1/tasks HTTP/1.1\r\n{host}{auth}"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            return self.port, head.encode() + body
        raise ValueError(f"unknown request kind {kind!r}")


class _Answer:
    """httptools callbacks: the headers we need, and when the message is complete."""

    def __init__(self) -> None:
        self.retry_after = False
        self.location: bytes | None = None
        self.complete = False
        self.keep_alive = False
        self.parser: httptools.HttpResponseParser | None = None
        self.error_body: bytearray | None = None  # kept for failures only, to name them

    def on_headers_complete(self) -> None:
        if self.parser is not None and self.parser.get_status_code() >= 400:
            self.error_body = bytearray()

    def on_body(self, body: bytes) -> None:
        if self.error_body is not None and len(self.error_body) < CHUNK:
            self.error_body += body

    def problem(self) -> str | None:
        """The `code` of a problem+json failure, if the body is one."""
        if not self.error_body:
            return None
        try:
            code = json.loads(self.error_body).get("code")
        except (ValueError, AttributeError):
            return None
        return code if isinstance(code, str) else None

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"retry-after":
            self.retry_after = True
        elif lowered == b"location":
            self.location = value

    def on_message_complete(self) -> None:
        # Asked here: the parser forgets the connection's state once the message is done.
        self.keep_alive = self.parser is not None and self.parser.should_keep_alive()
        self.complete = True


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass
class Generator:
    """Sends a schedule of requests against one server and records every outcome."""

    requests: Requests
    timeout: float = 2.0
    probe_timeout: float = 2.0
    max_connections: int = 8000
    open_connections: int = 0
    _idle: dict[int, list[Connection]] = field(default_factory=dict)

    async def run(self, plan: Sequence[Planned]) -> list[Outcome]:
        """Send every planned request at its time; return the outcomes in plan order."""
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        counters = dict.fromkeys((*API_KINDS, *PROBE_PATHS), 0)
        tasks = []
        for item in plan:
            due = start + item.at
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(loop.create_task(self._one(item, counters[item.kind], due)))
            counters[item.kind] += 1
        outcomes = await asyncio.gather(*tasks)
        self.close()
        return list(outcomes)

    def close(self) -> None:
        """Close the idle keep-alive connections."""
        for connections in self._idle.values():
            for _, writer in connections:
                writer.close()
        self.open_connections -= sum(len(c) for c in self._idle.values())
        self._idle.clear()

    async def _connect(self, port: int, *, reuse: bool) -> Connection:
        idle = self._idle.setdefault(port, [])
        if reuse and idle:
            return idle.pop()
        # Counted before the connect completes, so that concurrent requests see the limit.
        self.open_connections += 1
        try:
            return await asyncio.open_connection(self.requests.host, port)
        except BaseException:
            self.open_connections -= 1
            raise

    def _drop(self, connection: Connection | None) -> None:
        if connection is not None:
            connection[1].close()
            self.open_connections -= 1

    async def _one(self, item: Planned, number: int, due: float) -> Outcome:
        loop = asyncio.get_running_loop()
        lag_ms = max(0.0, (loop.time() - due) * 1000)
        probe = item.kind in PROBE_PATHS
        port, raw = self.requests.build(item.kind, number)

        def failed(error: str) -> Outcome:
            return Outcome(item.kind, item.at, lag_ms, None, None, error=error)

        reuse = not probe
        if self.open_connections >= self.max_connections and not (reuse and self._idle.get(port)):
            return failed("client_limit")
        connection: Connection | None = None
        stage = "connect"
        try:
            async with asyncio.timeout_at(due + (self.probe_timeout if probe else self.timeout)):
                connection = await self._connect(port, reuse=reuse)
                stage = "exchange"
                answer, status, keep_alive = await _exchange(connection, raw)
        except TimeoutError:
            self._drop(connection)
            return failed("timeout")
        except httptools.HttpParserError:
            self._drop(connection)
            return failed("protocol")
        except OSError:
            self._drop(connection)
            return failed("connect" if stage == "connect" else "closed")
        if keep_alive and reuse:
            self._idle[port].append(connection)
        else:
            self._drop(connection)
        created = None
        if answer.location is not None and status == 201:
            created = answer.location.decode("latin-1").rstrip("/").rsplit("/", 1)[-1]
        latency_ms = (loop.time() - due) * 1000
        return Outcome(
            item.kind,
            item.at,
            lag_ms,
            latency_ms,
            status,
            answer.retry_after,
            None,
            created,
            answer.problem(),
        )


async def _exchange(connection: Connection, raw: bytes) -> tuple[_Answer, int, bool]:
    """Write one request, read its whole answer: (headers seen, status, keep-alive)."""
    reader, writer = connection
    writer.write(raw)
    answer = _Answer()
    parser = httptools.HttpResponseParser(answer)
    answer.parser = parser
    while not answer.complete:
        data = await reader.read(CHUNK)
        if not data:
            raise ConnectionResetError("the server closed the connection")
        parser.feed_data(data)
    return answer, parser.get_status_code(), answer.keep_alive


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
    generator = Generator(requests, timeout=args.timeout, probe_timeout=args.probe_timeout)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        outcomes = runner.run(generator.run(plan))
    with args.output.open("w") as output:
        for outcome in outcomes:
            output.write(json.dumps(asdict(outcome)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
