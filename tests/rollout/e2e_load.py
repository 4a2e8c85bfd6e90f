"""Traffic for the e2e upgrade drill on kind, standard library only.

It runs in a pod of the application image (whose Python has none of the test
dependencies), sends its requests through the Kubernetes Service during `helm
upgrade` and `helm rollback`, and stops when the file named by --stop-file appears
(or after --max-seconds). It prints `{"started": USERS}` once its users are signed
in and sending, and a JSON summary as its last line; it exits 1 when any
request failed or when too few were made to prove anything:

    python e2e_load.py http://tasks-api:8000 --users 4 --stop-file /tmp/stop
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

PASSWORD = "e2e-drill-password-0123"
TIMEOUT_SECONDS = 10.0


@dataclass
class Tally:
    """What all users did, shared between their threads."""

    requests: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, failure: str | None = None) -> None:
        """Count one request, and its failure if any."""
        with self.lock:
            self.requests += 1
            if failure is not None:
                self.failures.append(failure)


def call(
    base: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Message, Any]:
    """One HTTP request; (status, headers, parsed JSON body or None). Raises on no answer.

    The headers are an email.message.Message: names are case-insensitive there.
    """
    data = None
    request_headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        request_headers["Content-Type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        request_headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(  # noqa: S310 - the URL is the drill's own Service
        base + path, data=data, method=method, headers=request_headers
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            payload = response.read()
            status, answer_headers = response.status, response.headers
    except urllib.error.HTTPError as error:
        payload, status, answer_headers = error.read(), error.code, error.headers
    return status, answer_headers, json.loads(payload) if payload else None


def sign_up(base: str) -> dict[str, str]:
    """Register a user and log in; the Authorization header."""
    email = f"e2e-{uuid.uuid4().hex[:12]}@example.com"
    status, _, body = call(
        base, "POST", "/api/v1/users", body={"email": email, "password": PASSWORD}
    )
    if status != 201:
        raise RuntimeError(f"register answered {status}: {body}")
    status, _, body = call(
        base, "POST", "/api/v1/auth/token", form={"username": email, "password": PASSWORD}
    )
    if status != 200:
        raise RuntimeError(f"login answered {status}: {body}")
    return {"Authorization": f"Bearer {body['access_token']}"}


def _expect(tally: Tally, expected: int, base: str, method: str, path: str, **kwargs: Any) -> Any:
    try:
        status, headers, body = call(base, method, path, **kwargs)
    except OSError as error:  # refused, reset, timed out: the client saw no answer
        tally.count(f"{method} {path}: {type(error).__name__}")
        return None
    if status != expected:
        tally.count(f"{method} {path}: {status} {str(body)[:200]}")
        return None
    tally.count()
    return headers, body


def work(base: str, auth: dict[str, str], tally: Tally, until: threading.Event) -> None:
    """One user's loop; anything unexpected counts as a failure and the loop goes on."""
    while not until.is_set():
        try:
            _round(base, auth, tally)
        except Exception as error:  # a dead thread would hide failures
            tally.count(f"client error: {type(error).__name__}: {error}")


def _round(base: str, auth: dict[str, str], tally: Tally) -> None:
    """Create, read, update with If-Match, list."""
    created = _expect(
        tally, 201, base, "POST", "/api/v1/tasks", body={"title": "e2e"}, headers=auth
    )
    if created is None:
        return
    task = f"/api/v1/tasks/{created[1]['id']}"
    read = _expect(tally, 200, base, "GET", task, headers=auth)
    if read is not None:
        match = {**auth, "If-Match": read[0]["ETag"]}
        _expect(tally, 200, base, "PATCH", task, body={"status": "done"}, headers=match)
    _expect(tally, 200, base, "GET", "/api/v1/tasks?limit=10", headers=auth)


def run(
    base: str, users: int, stop_file: Path, max_seconds: float, min_requests: int
) -> dict[str, Any]:
    """Drive the users until the stop file appears; the summary."""
    tally = Tally()
    until = threading.Event()
    threads = [
        threading.Thread(target=work, args=(base, sign_up(base), tally, until), daemon=True)
        for _ in range(users)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    print(json.dumps({"started": users}), flush=True)
    while not stop_file.exists() and time.monotonic() - started < max_seconds:
        time.sleep(0.2)
    until.set()
    for thread in threads:
        thread.join(TIMEOUT_SECONDS * 4)
    return {
        "requests": tally.requests,
        "failures": len(tally.failures),
        "examples": tally.failures[:20],
        "seconds": round(time.monotonic() - started, 1),
        "passed": not tally.failures and tally.requests >= min_requests,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the drill's traffic; exit 0 only when nothing failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base_url")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--stop-file", type=Path, default=Path("/tmp/stop"))
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--min-requests", type=int, default=200)
    args = parser.parse_args(argv)
    summary = run(
        args.base_url.rstrip("/"), args.users, args.stop_file, args.max_seconds, args.min_requests
    )
    print(json.dumps(summary), flush=True)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
