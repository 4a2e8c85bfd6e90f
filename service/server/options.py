"""gunicorn options of `tasks-api serve`, derived from the settings."""

from __future__ import annotations

import math
from typing import Any

from service.config import Settings


def listen_host(host: str) -> str:
    """The address to listen on: `HOST` without the brackets of an IPv6 literal."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def bind_address(host: str, port: int) -> str:
    """gunicorn's `HOST:PORT`, with an IPv6 literal in brackets (`[::]:8000`)."""
    address = listen_host(host)
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """gunicorn settings derived from the tasks-api settings."""
    return {
        "bind": [bind_address(settings.host, settings.port)],
        "workers": settings.web_concurrency,
        "worker_class": "service.server.worker.DrainingUvicornWorker",
        # A worker gets SIGTERM, drains, then finishes in-flight requests: gunicorn
        # must wait for both before it kills it.
        "graceful_timeout": math.ceil(
            settings.drain_delay_seconds + settings.graceful_timeout_seconds
        ),
        "timeout": 30,
        "keepalive": settings.keepalive_seconds,
        "max_requests": settings.max_requests,
        "max_requests_jitter": settings.max_requests_jitter,
        "control_socket_disable": True,
        "proc_name": "tasks-api",
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "logger_class": "service.server.logger.StructlogGunicornLogger",
        # The client address of logs and login limits: only these peers may name another.
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "worker_tmp_dir": None,
        "preload_app": False,
    }
