"""A local OTLP/HTTP sink: accepts every export and counts it, so telemetry really runs."""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar


class _Handler(BaseHTTPRequestHandler):
    received: ClassVar[Counter[str]] = Counter()
    received_bytes: ClassVar[Counter[str]] = Counter()
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with self.lock:
            self.received[self.path] += 1
            self.received_bytes[self.path] += length
        # An empty body is a valid Export*ServiceResponse: everything was accepted.
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


class OtlpSink:
    """An OTLP/HTTP receiver on 127.0.0.1 that answers 200 to everything, in a thread."""

    def __init__(self) -> None:
        handler = type(
            "SinkHandler", (_Handler,), {"received": Counter(), "received_bytes": Counter()}
        )
        self._handler: type[_Handler] = handler
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-sink")

    @property
    def endpoint(self) -> str:
        """The base URL to put in OTEL_EXPORTER_OTLP_ENDPOINT."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def counts(self) -> dict[str, dict[str, int]]:
        """Export requests and bytes received, per OTLP path."""
        with self._handler.lock:
            return {
                path: {"requests": count, "bytes": self._handler.received_bytes[path]}
                for path, count in sorted(self._handler.received.items())
            }

    def __enter__(self) -> OtlpSink:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
