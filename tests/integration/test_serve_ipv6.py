"""`tasks-api serve` on an IPv6 address: the API's bind and the metrics listener."""

from __future__ import annotations

import contextlib
import time

import httpx
import pytest

from service.config import Settings
from service.server.options import bind_address, gunicorn_options
from tests.support.server import running_service

pytestmark = pytest.mark.slow


def _until_ok(url: str, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            answer = httpx.get(url, timeout=1)
            if answer.status_code == 200:
                return answer
        if time.monotonic() > deadline:
            raise TimeoutError(url)
        time.sleep(0.1)


def test_serve_binds_an_ipv6_host_for_the_api_and_the_metrics() -> None:
    with running_service({"HOST": "::1"}, wait=False) as service:
        ready = _until_ok(f"http://[::1]:{service.port}/readyz")
        assert ready.json()["status"] == "ready"
        metrics = _until_ok(f"http://[::1]:{service.metrics_port}/metrics")
        assert "tasks_api_build_info" in metrics.text
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{service.port}/healthz", timeout=1)
        assert '"bind": "[::1]:' in service.logs()


def test_ipv4_hosts_and_names_bind_as_they_are() -> None:
    assert bind_address("192.0.2.10", 8000) == "192.0.2.10:8000"
    assert bind_address("localhost", 8000) == "localhost:8000"
    assert gunicorn_options(Settings(host="127.0.0.1", port=81))["bind"] == ["127.0.0.1:81"]


def test_ipv6_hosts_get_brackets_once() -> None:
    assert bind_address("::", 8000) == "[::]:8000"
    assert bind_address("[::1]", 8000) == "[::1]:8000"
    assert gunicorn_options(Settings(host="fd00::1", port=81))["bind"] == ["[fd00::1]:81"]
