"""Real API traffic against a served tasks-api, counting what the metrics must show."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

PASSWORD = "observability-password-0123"


@dataclass
class Traffic:
    """An HTTP client that remembers every request the request metrics must count."""

    client: httpx.Client
    counted: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def call(
        self, method: str, path: str, handler: str | None, expect: int, **kwargs: Any
    ) -> httpx.Response:
        """Send a request; `handler` is its route template, None if it must not be counted."""
        response = self.client.request(method, path, **kwargs)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        if handler is not None:
            self.counted[(method, handler, str(response.status_code))] += 1
        return response

    @property
    def total(self) -> int:
        """How many counted requests were sent."""
        return sum(self.counted.values())


def api_round(traffic: Traffic) -> None:
    """One pass over the API with 2xx and 4xx answers, plus requests that are never counted."""
    email = f"observability-{uuid.uuid4().hex[:12]}@example.com"
    credentials = {"email": email, "password": PASSWORD}
    traffic.call("POST", "/api/v1/users", "/api/v1/users", 201, json=credentials)
    traffic.call("POST", "/api/v1/users", "/api/v1/users", 409, json=credentials)
    token_path = "/api/v1/auth/token"
    traffic.call(
        "POST", token_path, token_path, 400, data={"username": email, "password": "wrong-pass-1"}
    )
    token = traffic.call(
        "POST", token_path, token_path, 200, data={"username": email, "password": PASSWORD}
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    traffic.call("GET", "/api/v1/users/me", "/api/v1/users/me", 200, headers=auth)
    traffic.call("GET", "/api/v1/users/me", "/api/v1/users/me", 401)
    key = {"Idempotency-Key": uuid.uuid4().hex, **auth}
    created = traffic.call(
        "POST", "/api/v1/tasks", "/api/v1/tasks", 201, json={"title": "watch"}, headers=key
    ).json()
    traffic.call(
        "POST", "/api/v1/tasks", "/api/v1/tasks", 201, json={"title": "watch"}, headers=key
    )
    traffic.call("POST", "/api/v1/tasks", "/api/v1/tasks", 422, json={"title": ""}, headers=auth)
    traffic.call("GET", "/api/v1/tasks", "/api/v1/tasks", 200, headers=auth)
    one = "/api/v1/tasks/{task_id}"
    traffic.call("GET", f"/api/v1/tasks/{created['id']}", one, 200, headers=auth)
    traffic.call("GET", f"/api/v1/tasks/{uuid.uuid4()}", one, 404, headers=auth)
    traffic.call("DELETE", f"/api/v1/tasks/{created['id']}", one, 204, headers=auth)
    # Never counted: probes, the metrics path on the app port, paths matching no route.
    traffic.call("GET", "/healthz", None, 200)
    traffic.call("GET", "/readyz", None, 200)
    traffic.call("GET", "/metrics", None, 404)
    traffic.call("GET", f"/no/such/{uuid.uuid4().hex}", None, 404)


def sign_in(traffic: Traffic) -> dict[str, str]:
    """A fresh user's Authorization header (counted requests)."""
    email = f"observability-{uuid.uuid4().hex[:12]}@example.com"
    credentials = {"email": email, "password": PASSWORD}
    traffic.call("POST", "/api/v1/users", "/api/v1/users", 201, json=credentials)
    token = traffic.call(
        "POST",
        "/api/v1/auth/token",
        "/api/v1/auth/token",
        200,
        data={"username": email, "password": PASSWORD},
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def healthy_round(traffic: Traffic) -> None:
    """One pass over the API where every answer is a success (2xx): no error at all."""
    auth = sign_in(traffic)
    traffic.call("GET", "/api/v1/users/me", "/api/v1/users/me", 200, headers=auth)
    key = {"Idempotency-Key": uuid.uuid4().hex, **auth}
    created = traffic.call(
        "POST", "/api/v1/tasks", "/api/v1/tasks", 201, json={"title": "healthy"}, headers=key
    ).json()
    traffic.call("GET", "/api/v1/tasks", "/api/v1/tasks", 200, headers=auth)
    one = "/api/v1/tasks/{task_id}"
    traffic.call("GET", f"/api/v1/tasks/{created['id']}", one, 200, headers=auth)
    traffic.call("DELETE", f"/api/v1/tasks/{created['id']}", one, 204, headers=auth)
