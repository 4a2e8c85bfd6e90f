"""The gunicorn worker: uvicorn that drains before it stops on SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from service.config import Settings
from service.core.lifecycle import process_shutdown
from service.server.protocol import header_limited_protocol
from service.server.shedding import ProtocolHeaders


class DrainingServer(Server):
    """On the first SIGTERM: readiness fails at once, serving goes on for the drain delay.

    Endpoint controllers need a moment to see the failing readiness and stop
    sending traffic; only then does the server stop accepting and finish what
    is in flight. SIGINT, SIGQUIT or a second SIGTERM stop without draining.
    """

    drain_until: float | None = None
    drain_delay: float = 5.0

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self.drain_until is None:
            process_shutdown.begin()
            self.drain_until = time.monotonic() + self.drain_delay
            return
        process_shutdown.begin()
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            # What the worker built at start (app, engine, telemetry, the first statements'
            # caches) lives as long as it does: kept out of the collector's full scans,
            # which otherwise stop the event loop for 50 to 80 ms each under load
            # (README, "Overload"); the master's imports were frozen before the fork.
            gc.freeze()

    async def on_tick(self, counter: int) -> bool:
        if self.drain_until is not None and time.monotonic() >= self.drain_until:
            self.should_exit = True
        return await super().on_tick(counter)


class DrainingUvicornWorker(UvicornWorker):  # type: ignore[misc]
    """UvicornWorker whose server drains on SIGTERM."""

    # The server header would name the server software; the protocol caps request headers.
    CONFIG_KWARGS = {
        "loop": "auto",
        "http": "service.server.protocol:HeaderLimitedProtocol",
        "lifespan": "on",
        "server_header": False,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # UvicornWorker points uvicorn's loggers at gunicorn's handlers; send them
        # through the tasks-api pipeline instead (and drop uvicorn's access lines).
        for name in ("uvicorn", "uvicorn.error"):
            logger = logging.getLogger(name)
            logger.handlers = []
            logger.propagate = True
        logging.getLogger("uvicorn.access").disabled = True

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        settings = getattr(self.app, "settings", None)
        server.drain_delay = getattr(settings, "drain_delay_seconds", server.drain_delay)
        if isinstance(settings, Settings):
            self.config.http = header_limited_protocol(
                settings.request_header_limit_bytes,
                settings.request_header_count_limit,
                settings.in_flight_limit,
                ProtocolHeaders.of(
                    settings.hsts_max_age_seconds if settings.hsts_enabled else None,
                    settings.cors_origins,
                ),
                shed_loop_lag=settings.shed_loop_lag_ms / 1000 or None,
                keepalive_max_requests=settings.keepalive_max_requests,
            )
        # gunicorn's quick shutdown (SIGINT/SIGQUIT to the master) sends SIGQUIT: stop the
        # server at once. uvicorn-worker's own handler only flags the gunicorn worker,
        # which the uvicorn server never looks at.
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGQUIT, server.handle_exit, signal.SIGQUIT, None
        )
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
