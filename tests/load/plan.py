"""The open-loop generator's plan: what is sent when, each request's bytes, answers, outcomes.

Kept apart from the generator (tests/load/openloop.py) so that the overload
scenario's report reads outcomes without the generator's sockets.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import httptools

API_KINDS = ("get", "create")
PROBE_PATHS = {"healthz": "/healthz", "readyz": "/readyz", "metrics": "/metrics"}


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


CHUNK = 65536  # the most of a failed answer's body kept to name its problem


class Answer:
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
