"""The 503 the protocol writes itself is joined from prepared bytes: it must stay the
problem+json document the application would have written, whatever the path."""

from __future__ import annotations

import json

import pytest

from service.core.problem import problem_body
from service.server.shedding import OVERLOAD_RETRY_AFTER_SECONDS, shed_response


def _split(answer: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return status, headers, body


def _expected(path: str, request_id: str) -> dict[str, object]:
    return problem_body(
        status=503,
        code="overloaded",
        detail="The service is at capacity; retry after the Retry-After delay.",
        instance=path,
        request_id=request_id,
        extra={"retry_after": OVERLOAD_RETRY_AFTER_SECONDS},
    )


def test_the_shed_answer_is_the_problem_document_of_its_request() -> None:
    answer = shed_response("/api/v1/tasks", "GET", b"x-extra: 1\r\n", keep_alive=True)
    status, headers, body = _split(answer)
    assert status == "HTTP/1.1 503 Service Unavailable"
    assert headers["content-type"] == "application/problem+json"
    assert headers["retry-after"] == str(OVERLOAD_RETRY_AFTER_SECONDS)
    assert headers["cache-control"] == "no-store"
    assert headers["x-extra"] == "1"
    assert "connection" not in headers
    assert int(headers["content-length"]) == len(body)
    request_id = headers["x-request-id"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0
    # The very bytes the application's encoder writes for the same document.
    assert body == json.dumps(_expected("/api/v1/tasks", request_id)).encode()


@pytest.mark.parametrize(
    "path", ['/api/"quoted"', "/api/back\\slash", "/api/caf\u00e9/\u2028", "/api/\x00\x1f"]
)
def test_a_path_that_json_must_escape_stays_one_valid_document(path: str) -> None:
    _, headers, body = _split(shed_response(path, "POST", b"", keep_alive=True))
    assert int(headers["content-length"]) == len(body)
    assert json.loads(body) == _expected(path, headers["x-request-id"])
    assert body == json.dumps(_expected(path, headers["x-request-id"])).encode()


def test_head_gets_no_body_and_a_closing_answer_says_so() -> None:
    get = _split(shed_response("/api/v1/tasks", "GET", b"", keep_alive=False))
    head = _split(shed_response("/api/v1/tasks", "HEAD", b"", keep_alive=True))
    assert get[1]["connection"] == "close"
    assert head[2] == b""
    assert head[1]["content-length"] == get[1]["content-length"]
    assert "connection" not in head[1]
    assert head[1]["x-request-id"] != get[1]["x-request-id"]
