"""The shed answer as written by the worker's protocol, over raw sockets.

A real `tasks-api serve` (one worker, MAX_IN_FLIGHT=1, CORS and HSTS on) whose API
requests a latency drill holds, so that one is in flight while others arrive. The
protocol writes the 503 itself, without the application: its headers, the bodies it
skips and the connection it keeps are only visible on the wire.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import pytest

from tests.support.server import ServiceProcess, running_service

TOKEN = "shed-answer-drill-operator-token-0123456789"
ME = "/api/v1/users/me"
HELD_SECONDS = 2.0
ORIGIN = "https://app.example"
HSTS_MAX_AGE = 600


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    env = {
        "MAX_IN_FLIGHT": "1",
        "DRILLS_ENABLED": "true",
        "DRILLS_TOKEN": TOKEN,
        "CORS_ORIGINS": ORIGIN,
        "HSTS_ENABLED": "true",
        "HSTS_MAX_AGE_SECONDS": str(HSTS_MAX_AGE),
    }
    with running_service(env, cwd=tmp_path_factory.mktemp("shed")) as running:
        drill = httpx.post(
            f"{running.base_url}/drills",
            json={"kind": "latency", "duration_seconds": 600, "latency_seconds": HELD_SECONDS},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert drill.status_code == 201, drill.text
        time.sleep(1.5)  # workers read the drills file about once a second
        yield running


def _hold(service: ServiceProcess, pool: ThreadPoolExecutor) -> Future[httpx.Response]:
    """Take the worker's one API slot for HELD_SECONDS."""
    held = pool.submit(httpx.get, f"{service.base_url}{ME}", timeout=10)
    time.sleep(HELD_SECONDS / 4)
    return held


def _answers(sock: socket.socket, count: int, *, head_only: tuple[int, ...] = ()) -> list[bytes]:
    """Read `count` complete answers (heads with their bodies) from the socket, in order."""
    data = b""
    answers: list[bytes] = []
    while len(answers) < count:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            head = data[: end + 4]
            length = 0 if len(answers) in head_only else _content_length(head)
            if len(data) >= end + 4 + length:
                answers.append(data[: end + 4 + length])
                data = data[end + 4 + length :]
                continue
        chunk = sock.recv(65_536)
        assert chunk, f"the connection closed after {len(answers)} of {count} answers"
        data += chunk
    assert data == b"", "more was written than the answers"
    return answers


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _headers(answer: bytes) -> dict[str, str]:
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")[1:]
    return {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines)
    }


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _connect(service: ServiceProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", service.port), timeout=HELD_SECONDS * 3)


def test_a_shed_answer_carries_the_headers_of_every_answer(service: ServiceProcess) -> None:
    with ThreadPoolExecutor(1) as pool, _connect(service) as sock:
        held = _hold(service, pool)
        sock.sendall(f"GET {ME} HTTP/1.1\r\nHost: t\r\nOrigin: {ORIGIN}\r\n\r\n".encode())
        (answer,) = _answers(sock, 1)
        assert held.result().status_code == 401
    headers = _headers(answer)
    assert _status(answer) == 503
    assert headers["retry-after"] == "1"
    assert headers["access-control-allow-origin"] == ORIGIN
    assert "Retry-After" in headers["access-control-expose-headers"]
    assert headers["vary"] == "Origin"
    assert headers["strict-transport-security"] == f"max-age={HSTS_MAX_AGE}"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert "server" not in headers
    assert "connection" not in headers, "a shed answer keeps the connection"


def test_another_origin_is_not_allowed_to_read_a_shed_answer(service: ServiceProcess) -> None:
    with ThreadPoolExecutor(1) as pool, _connect(service) as sock:
        held = _hold(service, pool)
        sock.sendall(
            f"GET {ME} HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\n\r\n".encode()
        )
        (answer,) = _answers(sock, 1)
        held.result()
    headers = _headers(answer)
    assert _status(answer) == 503
    assert "access-control-allow-origin" not in headers
    assert headers["vary"] == "Origin"


def test_a_shed_request_s_body_is_skipped_and_the_connection_serves_on(
    service: ServiceProcess,
) -> None:
    body = b'{"title": "' + b"x" * 50_000 + b'"}'
    post = (
        b"POST /api/v1/tasks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    with ThreadPoolExecutor(1) as pool, _connect(service) as sock:
        held = _hold(service, pool)
        # Pipelined behind the POST, in the same write: HEAD, then GET.
        sock.sendall(
            post
            + f"HEAD {ME} HTTP/1.1\r\nHost: t\r\n\r\nGET {ME} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
        )
        answers = _answers(sock, 3, head_only=(1,))
        held.result()
        assert [_status(answer) for answer in answers] == [503, 503, 503]
        assert answers[1].endswith(b"\r\n\r\n"), "a HEAD answer has no body"
        assert b'"code":"overloaded"' in answers[2].replace(b" ", b"")
        # The slot is free again: the same connection is served by the application.
        sock.sendall(f"GET {ME} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        (served,) = _answers(sock, 1)
    assert _status(served) == 401


def test_a_shed_request_that_waits_for_100_continue_is_closed(service: ServiceProcess) -> None:
    head = (
        b"POST /api/v1/tasks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 20\r\nExpect: 100-continue\r\n\r\n"
    )
    with ThreadPoolExecutor(1) as pool, _connect(service) as sock:
        held = _hold(service, pool)
        sock.sendall(head)
        (answer,) = _answers(sock, 1)
        assert sock.recv(1) == b"", "the connection is closed after the answer"
        held.result()
    assert _status(answer) == 503
    assert b"100 Continue" not in answer
    assert _headers(answer)["connection"] == "close"


def test_http_1_0_shed_answers_close_the_connection(service: ServiceProcess) -> None:
    with ThreadPoolExecutor(1) as pool, _connect(service) as sock:
        held = _hold(service, pool)
        sock.sendall(f"GET {ME} HTTP/1.0\r\n\r\n".encode())
        (answer,) = _answers(sock, 1)
        assert sock.recv(1) == b""
        held.result()
    assert _status(answer) == 503
    assert _headers(answer)["connection"] == "close"


def test_a_header_limit_answer_carries_hsts(service: ServiceProcess) -> None:
    with _connect(service) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
        (answer,) = _answers(sock, 1)
    assert _status(answer) == 431
    assert _headers(answer)["strict-transport-security"] == f"max-age={HSTS_MAX_AGE}"
