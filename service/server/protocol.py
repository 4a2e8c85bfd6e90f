"""uvicorn's httptools protocol with header limits and overload shedding.

httptools has no header limit of its own: it buffers a header's name and value until
the header ends, so one endless header grows the worker's memory without bound. This
protocol counts what arrives before the end of the headers and answers 431 with a
problem+json document as soon as either limit is passed, then closes the connection
without reading further. Bodies are not counted here (the body limit answers 413).

It also bounds the API requests in flight in the worker (MAX_IN_FLIGHT): one more
is answered 503 + Retry-After here, written in the callback that parsed its headers,
before the application, its telemetry and its middleware (service/server/shedding.py).

And it closes a keep-alive connection after KEEPALIVE_MAX_REQUESTS answers (the last
one says `connection: close`), as nginx's `keepalive_requests` does. A client keeps
its connections to the worker that accepted them: when a worker is recycled
(MAX_REQUESTS) its connections all move to the others and would stay there, past the
others' in-flight bound, while the new worker waits for connections that never come.
Reconnecting every so often spreads them again.
"""

from __future__ import annotations

from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from service.server.admission import InFlight
from service.server.shedding import (
    API_PREFIX,
    ProtocolHeaders,
    header_limit_response,
    shed_response,
)

DEFAULT_HEADER_BYTES = 16_384
DEFAULT_HEADER_COUNT = 100
# One read of the event loop: httptools may have buffered this much of an unfinished
# header beyond what the callbacks have reported.
_READ_SLACK = 65_536


class HeaderLimitExceededError(Exception):
    """Raised inside a parser callback: the request's headers passed a limit."""


class HeaderLimitedProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with header limits and, when given an InFlight, overload shedding."""

    max_header_bytes: int = DEFAULT_HEADER_BYTES
    max_header_count: int = DEFAULT_HEADER_COUNT
    in_flight: InFlight | None = None  # one per worker, shared by its connections
    keepalive_max_requests: int = 0  # answers per connection before it closes; 0: no limit
    answer_headers: ProtocolHeaders = ProtocolHeaders()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_headers = True
        self._header_bytes = 0  # reported by the callbacks: request line and headers
        self._unparsed_bytes = 0  # read while the headers were still unfinished
        self._header_count = 0
        self._refused = False
        self._requests = 0  # started on this connection
        if self.in_flight is not None:
            self.in_flight.watch(self.loop)

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
        self.transport.write(header_limit_response(detail, self.answer_headers.security))
        self.transport.close()

    def _bytes_detail(self) -> str:
        return f"The request headers exceed the limit of {self.max_header_bytes} bytes."

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            raise HeaderLimitExceededError(self._bytes_detail())

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        self._requests += 1
        if self.keepalive_max_requests and self._requests >= self.keepalive_max_requests:
            # The last answer on this connection; a shed one too (see _shed).
            cycle.keep_alive = False
        in_flight = self.in_flight
        if in_flight is not None and cycle.scope["path"].startswith(API_PREFIX):
            if in_flight.full:
                self._shed(cycle, in_flight)
                return
            app = in_flight.admitted(app)
        super()._start_asgi_task(cycle, app)

    def _shed(self, cycle: RequestResponseCycle, in_flight: InFlight) -> None:
        """Answer 503 + Retry-After now, without a task: the cycle is complete at once.

        The parser then skips the request's body (the cycle is complete) and the
        connection stays open for the next request, as after any answer; with
        `Expect: 100-continue` the body was never asked for, so it is closed instead.
        """
        scope = cycle.scope
        keep_alive = cycle.keep_alive and not cycle.waiting_for_100_continue
        headers = self.answer_headers
        extra = headers.security + headers.cors(scope["headers"])
        cycle.response_started = cycle.response_complete = True
        self.transport.write(
            shed_response(scope["path"], scope["method"], extra, keep_alive=keep_alive)
        )
        in_flight.counted_shed(scope["method"])
        if not keep_alive:
            self.transport.close()
            return
        # MAX_REQUESTS recycles a worker for what serving does to its memory; a shed
        # answer does nothing of the kind, and overload is the worst time to restart.
        self.server_state.total_requests -= 1
        self.on_response_complete()

    # Parser callbacks. An exception raised in one stops the parser: httptools re-raises it
    # from feed_data as HttpParserCallbackError, with the original as its context.
    def on_message_begin(self) -> None:
        # A request pipelined behind a shed answer starts in the same read: the keep-alive
        # timer that answer armed must not run while this one is served.
        self._unset_keepalive_if_required()
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
    max_bytes: int,
    max_count: int,
    max_in_flight: int | None = None,
    answer_headers: ProtocolHeaders | None = None,
    *,
    shed_loop_lag: float | None = None,
    keepalive_max_requests: int = 0,
) -> type[HeaderLimitedProtocol]:
    """The protocol class uvicorn instantiates per connection, with these limits.

    `shed_loop_lag` (seconds) makes the in-flight bound adapt to the loop's lag;
    `keepalive_max_requests` closes a connection after that many answers (0: never).
    """
    return type(
        "TasksApiHttpProtocol",
        (HeaderLimitedProtocol,),
        {
            "max_header_bytes": max_bytes,
            "max_header_count": max_count,
            "in_flight": None
            if max_in_flight is None
            else InFlight(max_in_flight, lag_target=shed_loop_lag),
            "answer_headers": answer_headers or ProtocolHeaders(),
            "keepalive_max_requests": keepalive_max_requests,
        },
    )
