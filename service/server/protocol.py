"""uvicorn's httptools protocol with header limits and overload shedding.

httptools has no header limit of its own: it buffers a header's name and value until
the header ends, so one endless header grows the worker's memory without bound. This
protocol counts what arrives before the end of the headers and answers 431 with a
problem+json document as soon as either limit is passed, then closes the connection
without reading further. Bodies are not counted here (the body limit answers 413).

It also bounds the API requests in flight in the worker (MAX_IN_FLIGHT): one more
is answered 503 + Retry-After here, before the application, its telemetry and its
middleware are entered, so that a shed answer costs next to nothing.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httptools
import structlog
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from service.core.problem import PROBLEM_JSON, problem_body

DEFAULT_HEADER_BYTES = 16_384
DEFAULT_HEADER_COUNT = 100
# One read of the event loop: httptools may have buffered this much of an unfinished
# header beyond what the callbacks have reported.
_READ_SLACK = 65_536


OVERLOAD_RETRY_AFTER_SECONDS = 1
API_PREFIX = "/api/"
_SHED_SUMMARY_SECONDS = 10.0
log = structlog.get_logger("service.server")


class HeaderLimitExceededError(Exception):
    """Raised inside a parser callback: the request's headers passed a limit."""


def header_limit_response(detail: str) -> bytes:
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
        b"cache-control: no-store\r\n"
        b"connection: close\r\n\r\n"
    )
    return head + payload


@dataclass
class InFlight:
    """The API requests in flight in this worker, against its bound; shed since the last line."""

    limit: int
    count: int = 0
    shed: int = 0
    summary_at: float = 0.0

    def admitted(self, app: ASGIApp) -> ASGIApp:
        """The app, for a request that takes one of the slots until it is finished."""
        self.count += 1

        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await app(scope, receive, send)
            finally:
                self.count -= 1

        return counted

    async def shed_answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        """503 + Retry-After problem+json, without the application."""
        request_id = uuid.uuid4().hex
        body = problem_body(
            status=503,
            code="overloaded",
            detail="The service is at capacity; retry after the Retry-After delay.",
            instance=scope["path"],
            request_id=request_id,
            extra={"retry_after": OVERLOAD_RETRY_AFTER_SECONDS},
        )
        payload = json.dumps(body).encode()
        headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(payload)).encode()),
            (b"retry-after", str(OVERLOAD_RETRY_AFTER_SECONDS).encode()),
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
            (b"x-request-id", request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        self._count_shed(scope["method"])

    def _count_shed(self, method: str) -> None:
        from service.telemetry.http import record_shed_request

        record_shed_request(method)
        self.shed += 1
        now = time.monotonic()
        # One line per 10 s at most: a line per shed answer would cost more than the answer.
        if now - self.summary_at >= _SHED_SUMMARY_SECONDS:
            log.warning("requests_shed", shed=self.shed, in_flight=self.count, limit=self.limit)
            self.shed = 0
            self.summary_at = now


class HeaderLimitedProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with header limits and, when given an InFlight, overload shedding."""

    max_header_bytes: int = DEFAULT_HEADER_BYTES
    max_header_count: int = DEFAULT_HEADER_COUNT
    in_flight: InFlight | None = None  # one per worker, shared by its connections

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_headers = True
        self._header_bytes = 0  # reported by the callbacks: request line and headers
        self._unparsed_bytes = 0  # read while the headers were still unfinished
        self._header_count = 0
        self._refused = False
        self._shed_cycle: RequestResponseCycle | None = None

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        try:
            self._feed(data)
        except HeaderLimitExceededError as error:
            self._refuse(str(error))
            return
        if self._in_headers and not self._refused:
            self._unparsed_bytes += len(data)
            if self._unparsed_bytes > self.max_header_bytes + _READ_SLACK:
                self._refuse(self._bytes_detail())

    def _feed(self, data: bytes) -> None:
        # uvicorn's data_received, except that a limit raised in a callback is let through
        # (httptools wraps it as HttpParserCallbackError, the original as its context).
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            if isinstance(error.__context__, HeaderLimitExceededError):
                raise error.__context__ from None
            self._invalid_request()
        except httptools.HttpParserError:
            self._invalid_request()
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def _invalid_request(self) -> None:
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self.send_400_response(message)

    def _refuse(self, detail: str) -> None:
        self._refused = True
        self.logger.warning("request headers over the limit: %s", detail)
        self.transport.write(header_limit_response(detail))
        self.transport.close()

    def _bytes_detail(self) -> str:
        return f"The request headers exceed the limit of {self.max_header_bytes} bytes."

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            raise HeaderLimitExceededError(self._bytes_detail())

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        in_flight = self.in_flight
        if in_flight is not None and cycle.scope["path"].startswith(API_PREFIX):
            if in_flight.count >= in_flight.limit:
                app = in_flight.shed_answer
                self._shed_cycle = cycle
            else:
                app = in_flight.admitted(app)
        super()._start_asgi_task(cycle, app)

    def on_response_complete(self) -> None:
        if self._shed_cycle is not None and self._shed_cycle is self.cycle:
            # MAX_REQUESTS recycles a worker for what serving does to its memory; a shed
            # answer does nothing of the kind, and overload is the worst time to restart.
            self._shed_cycle = None
            self.server_state.total_requests -= 1
        super().on_response_complete()

    # Parser callbacks. An exception raised in one stops the parser: httptools re-raises it
    # from feed_data as HttpParserCallbackError, with the original as its context.
    def on_message_begin(self) -> None:
        self._in_headers = True
        self._header_bytes = 0
        self._unparsed_bytes = 0
        self._header_count = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.max_header_count:
            raise HeaderLimitExceededError(
                f"The request has more than {self.max_header_count} header fields."
            )
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_headers = True
        self._unparsed_bytes = 0
        super().on_message_complete()


def header_limited_protocol(
    max_bytes: int, max_count: int, max_in_flight: int | None = None
) -> type[HeaderLimitedProtocol]:
    """The protocol class uvicorn instantiates per connection, with these limits."""
    return type(
        "TasksApiHttpProtocol",
        (HeaderLimitedProtocol,),
        {
            "max_header_bytes": max_bytes,
            "max_header_count": max_count,
            "in_flight": None if max_in_flight is None else InFlight(max_in_flight),
        },
    )
