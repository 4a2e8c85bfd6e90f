"""After a worker restarts, keep-alive clients' connections reach it again.

A real two-worker `tasks-api serve` (embedded SQLite) and 16 keep-alive client
connections. One worker is stopped (as MAX_REQUESTS recycling stops it); its
connections reconnect to the other one, and the master starts a new worker. Which
worker holds each connection is read from /proc: the server side of the connection is
a socket of one worker process.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.support.processes import children_of
from tests.support.server import ServiceProcess, running_service

CONNECTIONS = 16
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"


class Client:
    """Keep-alive connections, each reopened when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sockets = [self._open() for _ in range(CONNECTIONS)]

    def _open(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def round(self) -> None:
        """One request on every connection; a closed connection is reopened."""
        for index, sock in enumerate(self.sockets):
            if not self._exchange(sock):
                sock.close()
                self.sockets[index] = fresh = self._open()
                assert self._exchange(fresh), "a new connection is answered"

    @staticmethod
    def _exchange(sock: socket.socket) -> bool:
        # True: answered and still open. False: closed (before or after this answer).
        try:
            sock.sendall(REQUEST)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
                chunk = sock.recv(65_536)
                if not chunk:
                    return False
                answer += chunk
        except (BrokenPipeError, ConnectionResetError):
            return False
        return b"connection: close" not in answer.lower()

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def _server_inodes(server_port: int, client_ports: set[int]) -> set[int]:
    # The server side of each client connection, from /proc/net/tcp (IPv4).
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        if local_port == server_port and remote_port in client_ports:
            inodes.add(int(fields[9]))
    return inodes


def _holders(service: ServiceProcess, client: Client) -> dict[int, int]:
    """Worker pid -> how many of the client's connections it holds."""
    ports = {sock.getsockname()[1] for sock in client.sockets}
    wanted = _server_inodes(service.port, ports)
    held: dict[int, int] = {}
    for pid in children_of(service.process.pid):
        count = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and int(target[8:-1]) in wanted:
                count += 1
        held[pid] = count
    return held


def _workers(service: ServiceProcess, count: int, timeout: float = 30.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = children_of(service.process.pid)
        if len(workers) == count:
            return workers
        time.sleep(0.1)
    raise AssertionError(f"not {count} workers within {timeout} s")


@pytest.mark.parametrize("limit", [10, 0], ids=["limit-10", "no-limit"])
def test_connections_reach_a_restarted_worker_only_with_the_limit(
    limit: int, tmp_path: Path
) -> None:
    env = {
        "WEB_CONCURRENCY": "2",
        "MAX_REQUESTS": "0",  # no recycling by count: the test stops the worker itself
        "DRAIN_DELAY_SECONDS": "0",
        "KEEPALIVE_MAX_REQUESTS": str(limit),
    }
    with running_service(env, cwd=tmp_path) as service:
        client = Client(service.port)
        try:
            client.round()
            before = _workers(service, 2)
            stopped = min(before)
            os.kill(stopped, signal.SIGTERM)
            # Its connections reconnect to the other worker meanwhile.
            while stopped in children_of(service.process.pid):
                client.round()
            (new,) = _workers(service, 2) - before
            time.sleep(1.0)  # the new worker has started serving
            for _ in range(40):  # with the limit, each connection reconnects four times
                client.round()
            held = _holders(service, client)
        finally:
            client.close()
    assert sum(held.values()) == CONNECTIONS, held
    if limit:
        assert held[new] > 0, held
    else:
        assert held[new] == 0, held  # the new worker waits for connections that never come
