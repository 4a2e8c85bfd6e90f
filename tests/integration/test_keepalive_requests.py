"""KEEPALIVE_MAX_REQUESTS: a keep-alive connection is closed after that many answers.

A real `tasks-api serve` (one worker, embedded SQLite) over raw sockets: whether the
server closes a connection is only visible on the connection itself.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.support.server import ServiceProcess, running_service

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"
API_REQUEST = b"GET /api/v1/users/me HTTP/1.1\r\nHost: test\r\n\r\n"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One serve that closes a connection after its third answer."""
    env = {"KEEPALIVE_MAX_REQUESTS": "3"}
    with running_service(env, cwd=tmp_path_factory.mktemp("keepalive")) as running:
        yield running


class Connection:
    """One client connection that reads answers one at a time."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""

    def answer(self) -> tuple[int, dict[str, str]]:
        """The next complete answer: its status and headers (its body is read and dropped)."""
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        pairs = (line.partition(":") for line in lines[1:])
        headers = {name.strip().lower(): value.strip() for name, _, value in pairs}
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._read()
        self.buffer = self.buffer[length:]
        return int(lines[0].split(" ", 2)[1]), headers

    def closed_by_server(self) -> bool:
        """Whether the server closed the connection (nothing more to read)."""
        return self.sock.recv(1) == b""

    def _read(self) -> None:
        chunk = self.sock.recv(65_536)
        if not chunk:
            raise ConnectionError("closed before the answer was complete")
        self.buffer += chunk


def test_the_connection_closes_after_its_last_allowed_answer(service: ServiceProcess) -> None:
    connection = Connection(service.port)
    answers = []
    for request in (REQUEST, API_REQUEST, REQUEST):
        connection.sock.sendall(request)
        answers.append(connection.answer())
    assert [status for status, _ in answers] == [200, 401, 200]
    assert [headers.get("connection") for _, headers in answers] == [None, None, "close"]
    assert connection.closed_by_server()
    # A new connection is served as usual.
    again = Connection(service.port)
    again.sock.sendall(REQUEST)
    assert again.answer()[0] == 200


def test_pipelined_requests_beyond_the_limit_are_not_answered(service: ServiceProcess) -> None:
    connection = Connection(service.port)
    connection.sock.sendall(REQUEST * 4)
    answers = [connection.answer() for _ in range(3)]
    assert [headers.get("connection") for _, headers in answers] == [None, None, "close"]
    # The fourth was never started: the client sends it again on a new connection.
    assert connection.buffer == b""
    assert connection.closed_by_server()


def test_no_limit_keeps_the_connection(tmp_path_factory: pytest.TempPathFactory) -> None:
    env = {"KEEPALIVE_MAX_REQUESTS": "0"}
    with running_service(env, cwd=tmp_path_factory.mktemp("unlimited")) as unlimited:
        connection = Connection(unlimited.port)
        for _ in range(20):
            connection.sock.sendall(REQUEST)
            status, headers = connection.answer()
            assert status == 200 and "connection" not in headers
        connection.sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            connection.closed_by_server()  # still open: the read waits


def test_a_negative_limit_is_refused_at_start(tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_service(
        {"KEEPALIVE_MAX_REQUESTS": "-1"}, cwd=tmp_path_factory.mktemp("negative"), wait=False
    ) as refused:
        assert refused.process.wait(timeout=30) == 2
