"""Overload shedding and the answers the worker's HTTP protocol writes itself.

A worker serves at most its bound of API requests at once (service/server/admission.py).
One more is answered
503 + Retry-After by the protocol, in the same event-loop callback that parsed its
headers: no ASGI task, no application, no middleware. Under overload that answer is
most of what a worker writes, so it must cost next to nothing and wait for nothing:
it is written before the loop turns to the admitted requests again.

Answers written here carry the headers the application's middleware would have added
(security headers, HSTS when enabled, and CORS for an allowed origin), so that a
browser can read a 503's Retry-After like any other answer.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from service.core.problem import PROBLEM_JSON, problem_body

OVERLOAD_RETRY_AFTER_SECONDS = 1
API_PREFIX = "/api/"
_SHED_DETAIL = "The service is at capacity; retry after the Retry-After delay."
# What the browser may read of a shed answer from another origin.
_CORS_EXPOSED = b"Retry-After, X-Request-ID"


@dataclass(frozen=True)
class ProtocolHeaders:
    """Headers of the answers the protocol writes itself, as the middleware would set them."""

    hsts_max_age: int | None = None
    cors_origins: frozenset[bytes] = frozenset()
    security: bytes = field(init=False)

    def __post_init__(self) -> None:
        lines = [
            b"x-content-type-options: nosniff\r\n",
            b"x-frame-options: DENY\r\n",
            b"referrer-policy: no-referrer\r\n",
        ]
        if self.hsts_max_age is not None:
            lines.append(b"strict-transport-security: max-age=%d\r\n" % self.hsts_max_age)
        object.__setattr__(self, "security", b"".join(lines))

    @classmethod
    def of(cls, hsts_max_age: int | None, cors_origins: Iterable[str]) -> ProtocolHeaders:
        """From the settings' HSTS max-age (None: off) and CORS origins."""
        return cls(hsts_max_age, frozenset(origin.encode("latin-1") for origin in cors_origins))

    def cors(self, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
        """CORS headers for a request whose Origin is allowed; nothing otherwise."""
        if not self.cors_origins:
            return b""
        for name, value in headers:
            if name == b"origin":
                if value in self.cors_origins:
                    return (
                        b"access-control-allow-origin: " + value + b"\r\n"
                        b"access-control-expose-headers: " + _CORS_EXPOSED + b"\r\n"
                        b"vary: Origin\r\n"
                    )
                return b"vary: Origin\r\n"
        return b""


_INSTANCE_HOLE = "\x00instance"
_REQUEST_ID_HOLE = "\x00request_id"


def _shed_body_parts() -> tuple[bytes, bytes, bytes]:
    # The shed answer's document with two holes, its instance and its request id: built
    # once, so that the answer is joined from bytes rather than encoded each time.
    body = problem_body(
        status=503,
        code="overloaded",
        detail=_SHED_DETAIL,
        instance=_INSTANCE_HOLE,
        request_id=_REQUEST_ID_HOLE,
        extra={"retry_after": OVERLOAD_RETRY_AFTER_SECONDS},
    )
    document = json.dumps(body).encode()
    before, rest = document.split(json.dumps(_INSTANCE_HOLE).encode())
    between, after = rest.split(json.dumps(_REQUEST_ID_HOLE).encode())
    return before, between, after


_SHED_BEFORE, _SHED_BETWEEN, _SHED_AFTER = _shed_body_parts()
# Its head up to the extra headers; the holes: content-length and x-request-id.
_SHED_HEAD = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: %s\r\n"
    b"content-length: %%d\r\n"
    b"retry-after: %d\r\n"
    b"cache-control: no-store\r\n"
    b"x-request-id: %%s\r\n"
) % (PROBLEM_JSON.encode(), OVERLOAD_RETRY_AFTER_SECONDS)


def shed_response(path: str, method: str, extra_headers: bytes, *, keep_alive: bool) -> bytes:
    """The complete 503 + Retry-After answer, problem+json, head and body."""
    request_id = uuid.uuid4().hex.encode()
    payload = b"".join(
        (
            _SHED_BEFORE,
            json.dumps(path).encode(),
            _SHED_BETWEEN,
            b'"' + request_id + b'"',
            _SHED_AFTER,
        )
    )
    head = b"".join(
        (
            _SHED_HEAD % (len(payload), request_id),
            extra_headers,
            b"" if keep_alive else b"connection: close\r\n",
            b"\r\n",
        )
    )
    return head if method == "HEAD" else head + payload


def header_limit_response(detail: str, extra_headers: bytes = b"") -> bytes:
    """The complete 431 answer, problem+json, with the connection closed after it."""
    body = problem_body(
        status=431,
        code="request_header_fields_too_large",
        detail=detail,
        instance="",
        request_id=None,
    )
    # Refused before the request exists: there is no path or request id to name.
    del body["instance"], body["request_id"]
    payload = json.dumps(body).encode()
    head = (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        b"content-type: " + PROBLEM_JSON.encode() + b"\r\n"
        b"content-length: " + str(len(payload)).encode() + b"\r\n"
        b"cache-control: no-store\r\n" + extra_headers + b"connection: close\r\n\r\n"
    )
    return head + payload
