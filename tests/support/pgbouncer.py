"""A real PgBouncer in transaction pooling mode in front of the test PostgreSQL.

PgBouncer refuses to run as root; as root the tests start it as the `postgres`
user (which the PostgreSQL package creates), with its files in a directory
that user can read.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from tests.support.processes import stop_process
from tests.support.server import free_port


@dataclass(frozen=True)
class PgBouncer:
    """A running PgBouncer and how to reach a database through it."""

    port: int
    log_path: Path

    def url_for(self, database_url: URL) -> URL:
        """The same database, reached through PgBouncer."""
        return database_url.set(host="127.0.0.1", port=self.port)

    def logs(self) -> str:
        """What PgBouncer logged so far."""
        return self.log_path.read_text(errors="replace")


def _config(directory: Path, port: int, backend_host: str, backend_port: int) -> Path:
    users = directory / "users.txt"
    users.write_text('"postgres" ""\n')
    config = directory / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host={backend_host} port={backend_port}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "auth_type = trust\n"
        f"auth_file = {users}\n"
        "pool_mode = transaction\n"
        "default_pool_size = 4\n"
        "unix_socket_dir =\n"
        # asyncpg may send it; PgBouncer refuses unknown startup parameters otherwise.
        "ignore_startup_parameters = extra_float_digits\n"
    )
    for path in (directory, users, config):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return config


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def running_pgbouncer(binary: Path, backend: URL) -> Iterator[PgBouncer]:
    """Start PgBouncer on a free port in front of `backend`'s server; stop it afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="tasks-api-pgbouncer-"))
    port = free_port()
    config = _config(directory, port, backend.host or "127.0.0.1", backend.port or 5432)
    log_path = directory / "pgbouncer.log"
    command = [str(binary), str(config)]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    bouncer = PgBouncer(port=port, log_path=log_path)
    try:
        deadline = time.monotonic() + 10
        while not _accepts(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pgbouncer did not start:\n{bouncer.logs()}")
            time.sleep(0.05)
        yield bouncer
    finally:
        stop_process(process)
        shutil.rmtree(directory, ignore_errors=True)
