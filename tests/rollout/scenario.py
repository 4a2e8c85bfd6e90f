"""A fixed walk through the API that every release must keep serving, over real HTTP.

Register, log in, create, read, update, list and delete a task, asserting the
contract a client of any earlier release relies on (statuses, ETags, fields).
It speaks only HTTP, so it can run against the code of another commit.
"""

from __future__ import annotations

import uuid

import httpx

PASSWORD = "rollout-scenario-password-0123"


def run_api_scenario(base_url: str) -> None:
    """Play the scenario against a running server; AssertionError names the first broken step."""
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        email = f"scenario-{uuid.uuid4().hex[:12]}@example.com"
        registered = http.post("/api/v1/users", json={"email": email, "password": PASSWORD})
        assert registered.status_code == 201, f"register: {registered.text}"
        token = http.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
        assert token.status_code == 200, f"login: {token.text}"
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}

        created = http.post(
            "/api/v1/tasks", json={"title": "scenario", "priority": "high"}, headers=auth
        )
        assert created.status_code == 201, f"create: {created.text}"
        task = created.json()
        assert task["title"] == "scenario" and task["priority"] == "high", task

        read = http.get(f"/api/v1/tasks/{task['id']}", headers=auth)
        assert read.status_code == 200, f"read: {read.text}"
        assert read.json()["id"] == task["id"]
        etag = read.headers["ETag"]

        updated = http.patch(
            f"/api/v1/tasks/{task['id']}",
            json={"status": "done"},
            headers={**auth, "If-Match": etag},
        )
        assert updated.status_code == 200, f"update: {updated.text}"
        assert updated.json()["status"] == "done"
        assert updated.headers["ETag"] != etag

        listed = http.get("/api/v1/tasks", params={"limit": 10}, headers=auth)
        assert listed.status_code == 200, f"list: {listed.text}"
        assert [item["id"] for item in listed.json()["items"]] == [task["id"]]

        deleted = http.delete(
            f"/api/v1/tasks/{task['id']}", headers={**auth, "If-Match": updated.headers["ETag"]}
        )
        assert deleted.status_code == 204, f"delete: {deleted.text}"
        gone = http.get(f"/api/v1/tasks/{task['id']}", headers=auth)
        assert gone.status_code == 404, f"read after delete: {gone.text}"
