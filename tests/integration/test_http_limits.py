"""Request header limits, the server header and forwarded addresses, over raw sockets.

A real `tasks-api serve` (one worker, embedded SQLite): what the HTTP protocol does
with a request happens before any ASGI code, so only a real server can show it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServiceProcess, running_service

HEADER_LIMIT = 16_384


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One serve for the module, with the default header limits."""
    with running_service({}, cwd=tmp_path_factory.mktemp("limits")) as running:
        yield running


def _exchange(port: int, head: bytes, body: bytes = b"", timeout: float = 10.0) -> bytes:
    """Send a request (as much of it as the server takes) and read the answer to its end."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # Refused mid-request: the answer was written before the close.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head + body)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65_536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                break
        return b"".join(chunks)


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _headers(answer: bytes) -> dict[str, str]:
    head = answer.partition(b"\r\n\r\n")[0].decode("latin-1")
    pairs = (line.partition(":") for line in head.split("\r\n")[1:])
    return {name.strip().lower(): value.strip() for name, _, value in pairs}


def _body(answer: bytes) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(answer.partition(b"\r\n\r\n")[2])
    return parsed


def _get(path: str, *extra: bytes) -> bytes:
    lines = [f"GET {path} HTTP/1.1".encode(), b"Host: test", *extra, b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_an_8_kib_header_is_accepted(service: ServiceProcess) -> None:
    answer = _exchange(service.port, _get("/healthz", b"X-Big: " + b"a" * 8_192))
    assert _status(answer) == 200
    assert _body(answer)["status"] == "ok"


def test_a_2_mib_header_is_refused_with_431_and_the_worker_lives_on(
    service: ServiceProcess,
) -> None:
    boots_before = service.logs().count("Booting worker")
    started = time.monotonic()
    answer = _exchange(service.port, _get("/healthz", b"X-Big: " + b"a" * 2_097_152))
    elapsed = time.monotonic() - started
    assert _status(answer) == 431
    assert _headers(answer)["content-type"] == "application/problem+json"
    problem = _body(answer)
    assert problem["code"] == "request_header_fields_too_large"
    assert problem["status"] == 431
    assert str(HEADER_LIMIT) in str(problem["detail"])
    assert elapsed < 5
    # The same worker answers the next request: it neither died nor was replaced.
    assert httpx.get(f"{service.base_url}/healthz").status_code == 200
    assert service.logs().count("Booting worker") == boots_before
    assert service.process.poll() is None


def test_many_small_headers_over_the_byte_limit_are_refused(service: ServiceProcess) -> None:
    headers = [f"X-H{index}: {'b' * 200}".encode() for index in range(90)]
    answer = _exchange(service.port, _get("/healthz", *headers))
    assert _status(answer) == 431


def test_more_than_100_header_fields_are_refused(service: ServiceProcess) -> None:
    accepted = _exchange(service.port, _get("/healthz", *[b"X-A: 1"] * 97))
    refused = _exchange(service.port, _get("/healthz", *[b"X-A: 1"] * 101))
    assert _status(accepted) == 200
    assert _status(refused) == 431
    assert "100 header fields" in str(_body(refused)["detail"])


def test_a_long_request_target_counts_towards_the_limit(service: ServiceProcess) -> None:
    answer = _exchange(service.port, _get("/healthz?q=" + "c" * 20_000))
    assert _status(answer) == 431


def test_a_large_body_is_not_a_header_problem_but_a_413(service: ServiceProcess) -> None:
    body = b"x" * 2_000_000
    head = (
        b"POST /api/v1/tasks HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
    )
    answer = _exchange(service.port, head, body)
    assert _status(answer) == 413
    assert _body(answer)["code"] == "payload_too_large"


def test_a_body_in_one_read_with_small_headers_is_accepted(service: ServiceProcess) -> None:
    # Headers and 60 KB of body arrive together: only the headers count.
    body = json.dumps({"email": "x" * 60_000, "password": "p"}).encode()
    head = (
        b"POST /api/v1/users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
    )
    answer = _exchange(service.port, head, body)
    assert _status(answer) in {400, 422}


def test_the_server_header_names_no_software(service: ServiceProcess) -> None:
    answer = _exchange(service.port, _get("/healthz"))
    assert "server" not in _headers(answer)
    assert b"uvicorn" not in answer.lower()


def test_header_limits_are_settings(tmp_path: Path) -> None:
    env = {"REQUEST_HEADER_LIMIT_BYTES": "4096", "REQUEST_HEADER_COUNT_LIMIT": "20"}
    with running_service(env, cwd=tmp_path) as running:
        small = _exchange(running.port, _get("/healthz", b"X-Big: " + b"a" * 3_000))
        over = _exchange(running.port, _get("/healthz", b"X-Big: " + b"a" * 5_000))
        many = _exchange(running.port, _get("/healthz", *[b"X-A: 1"] * 21))
    assert _status(small) == 200
    assert _status(over) == 431
    assert "4096 bytes" in str(_body(over)["detail"])
    assert _status(many) == 431


def _access_client(service: ServiceProcess, request_id: str) -> str:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for text in service.logs().splitlines():
            if request_id in text and text.startswith("{"):
                line = json.loads(text)
                if line.get("logger") == "service.access":
                    return str(line["client"])
        time.sleep(0.05)
    raise AssertionError(f"no access line for {request_id}")


def _forwarded_get(service: ServiceProcess, request_id: str) -> None:
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Request-ID": request_id}
    # Probe paths log at debug level: an unknown API path has an info access line.
    answer = httpx.get(f"{service.base_url}/api/v1/no-such-thing", headers=headers)
    assert answer.status_code == 404


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(service: ServiceProcess) -> None:
    _forwarded_get(service, "untrusted-peer-1")
    assert _access_client(service, "untrusted-peer-1").startswith("127.0.0.1:")


def test_x_forwarded_for_from_a_trusted_peer_names_the_client(tmp_path: Path) -> None:
    with running_service({"FORWARDED_ALLOW_IPS": "127.0.0.0/8"}, cwd=tmp_path) as running:
        _forwarded_get(running, "trusted-peer-1")
        assert _access_client(running, "trusted-peer-1").startswith("203.0.113.7:")


def test_x_forwarded_for_from_a_peer_outside_the_trusted_network_is_ignored(
    tmp_path: Path,
) -> None:
    with running_service({"FORWARDED_ALLOW_IPS": "10.0.0.0/8"}, cwd=tmp_path) as running:
        _forwarded_get(running, "other-peer-1")
        assert _access_client(running, "other-peer-1").startswith("127.0.0.1:")
