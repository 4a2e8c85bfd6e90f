"""gunicorn server hooks of `tasks-api serve`: multiprocess metrics, per-worker telemetry."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from service.config import Settings
from service.server.options import listen_host

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

    from service.telemetry.prometheus import MetricsArchive


class ServerHooks:
    """Prometheus multiprocess bookkeeping and per-worker telemetry around the workers.

    prometheus_client and the telemetry modules are imported inside the hooks
    only: `serve` sets PROMETHEUS_MULTIPROC_DIR first, and prometheus_client
    picks its value storage once, when it is first imported.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics_server: WSGIServer | None = None
        self._archive: MetricsArchive | None = None

    def archive(self, server: Arbiter) -> MetricsArchive:
        """The master's archive of exited workers' metric files (one per master)."""
        if self._archive is None:
            from service.telemetry import prometheus

            def live_pids() -> list[int]:
                return [os.getpid(), *server.WORKERS.copy()]

            self._archive = prometheus.MetricsArchive(prometheus.multiprocess_dir(), live_pids)
        return self._archive

    def when_ready(self, server: Arbiter) -> None:
        """Master, before the first fork: serve /metrics on the metrics port."""
        from service.telemetry import prometheus

        # A metric value the master created (module import in embedded SQLite
        # mode) would count as a live process forever: drop its gauges.
        prometheus.forget_process(os.getpid())
        archive = self.archive(server)
        self.metrics_server = prometheus.start_metrics_server(
            listen_host(self.settings.host), self.settings.metrics_port, archive, archive.live_pids
        )

    def post_fork(self, server: Arbiter, worker: Worker) -> None:
        """Worker, just forked: let go of the master's metrics listener."""
        if self.metrics_server is not None:
            self.metrics_server.socket.close()
            self.metrics_server = None

    def child_exit(self, server: Arbiter, worker: Worker) -> None:
        """Master, a worker has exited: drop its live gauges, archive its counters."""
        self.archive(server).retire(worker.pid)

    def worker_exit(self, server: Arbiter, worker: Worker) -> None:
        """Worker leaving (or the master, for a worker found already gone)."""
        if os.getpid() != worker.pid:
            self.archive(server).retire(worker.pid)
            return
        from service.telemetry import otel

        # The last spans and measurements of this worker go out now.
        otel.shutdown()

    def on_exit(self, server: Arbiter) -> None:
        """Master, exiting: stop serving /metrics."""
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()


def hooks(settings: Settings) -> dict[str, Any]:
    """gunicorn server hooks: multiprocess metrics and per-worker telemetry."""
    server_hooks = ServerHooks(settings)
    return {
        "when_ready": server_hooks.when_ready,
        "post_fork": server_hooks.post_fork,
        "child_exit": server_hooks.child_exit,
        "worker_exit": server_hooks.worker_exit,
        "on_exit": server_hooks.on_exit,
    }
