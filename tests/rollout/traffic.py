"""Traffic of a rollout: an endpoints controller over real server processes, and clients.

`Endpoints` plays the part of a Kubernetes Service with its endpoints: it probes
every registered server's `/readyz` every PROBE_PERIOD seconds, sends traffic
only to those that last answered 200, and keeps each server's probe history.
A server leaves the endpoints at its first failed probe (the chart's readiness
probe and endpoint propagation are slower, which only makes the drain delay's
job easier). `Clients` keeps several signed-in users busy creating, reading,
updating and listing tasks through the endpoints, and records every request
that did not get the answer the API promises.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from dataclasses import dataclass, field

import httpx

from tests.support.server import ServiceProcess

PROBE_PERIOD = 0.2
# How long a server may take to join or leave the endpoints.
WAIT_SECONDS = 30.0
# How long a server may take to join or leave the endpoints.
WAIT_SECONDS = 30.0
PASSWORD = "rollout-drill-password-0123"


@dataclass
class Backend:
    """One server behind the endpoints, with its probe history."""

    name: str
    server: ServiceProcess
    client: httpx.AsyncClient
    ready: bool = False
    # (monotonic time, status code or 0 for a connection error) of every probe
    probes: list[tuple[float, int]] = field(default_factory=list)
    terminated_at: float | None = None

    def failed_probes_before_termination(self) -> list[tuple[float, int]]:
        """Probes that failed after the first success and before SIGTERM was sent."""
        first_ready = next((at for at, status in self.probes if status == 200), None)
        if first_ready is None:
            return [(0.0, 0)]
        end = self.terminated_at if self.terminated_at is not None else float("inf")
        return [
            (at, status) for at, status in self.probes if first_ready <= at < end and status != 200
        ]


class Endpoints:
    """The ready servers of a Service, found by probing `/readyz`."""

    def __init__(self) -> None:
        self.backends: dict[str, Backend] = {}
        self._task: asyncio.Task[None] | None = None
        self._probed = asyncio.Condition()

    def add(self, name: str, server: ServiceProcess) -> Backend:
        """Start probing a server; it receives traffic once its readiness passes."""
        client = httpx.AsyncClient(base_url=server.base_url, timeout=10.0)
        backend = Backend(name=name, server=server, client=client)
        self.backends[name] = backend
        return backend

    def ready(self) -> list[Backend]:
        """The servers that receive traffic now."""
        return [backend for backend in self.backends.values() if backend.ready]

    async def _probe(self, backend: Backend) -> None:
        status = 0
        with contextlib.suppress(httpx.HTTPError):
            status = (await backend.client.get("/readyz", timeout=1.0)).status_code
        backend.probes.append((time.monotonic(), status))
        backend.ready = status == 200

    async def _run(self) -> None:
        while True:
            await asyncio.gather(*(self._probe(backend) for backend in self.backends.values()))
            async with self._probed:
                self._probed.notify_all()
            await asyncio.sleep(PROBE_PERIOD)

    async def wait_ready(self, name: str) -> None:
        """Wait (at most WAIT_SECONDS) until the named server is in the endpoints."""
        backend = self.backends[name]
        try:
            async with asyncio.timeout(WAIT_SECONDS), self._probed:
                await self._probed.wait_for(lambda: backend.ready)
        except TimeoutError:
            raise TimeoutError(f"{name} never became ready:\n{backend.server.logs()}") from None

    async def wait_removed(self, name: str) -> None:
        """Wait (at most WAIT_SECONDS) until the named server has left the endpoints."""
        backend = self.backends[name]
        async with asyncio.timeout(WAIT_SECONDS), self._probed:
            await self._probed.wait_for(lambda: not backend.ready)

    async def __aenter__(self) -> Endpoints:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for backend in self.backends.values():
            await backend.client.aclose()


@dataclass(frozen=True)
class Failure:
    """A request that did not get the promised answer."""

    backend: str
    request: str
    outcome: str


@dataclass
class User:
    """A signed-in user of the drill and the tasks it created, by the server that created them."""

    auth: dict[str, str]
    created_by: dict[str, list[str]] = field(default_factory=dict)


async def sign_up(client: httpx.AsyncClient) -> User:
    """Register a user and log in through one server."""
    email = f"drill-{uuid.uuid4().hex[:12]}@example.com"
    created = await client.post("/api/v1/users", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    token = await client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return User(auth={"Authorization": f"Bearer {token.json()['access_token']}"})


class Clients:
    """Users creating, reading, updating and listing tasks, until stopped."""

    def __init__(self, endpoints: Endpoints, users: list[User]) -> None:
        self.endpoints = endpoints
        self.users = users
        self.failures: list[Failure] = []
        self.requests = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def _pick(self) -> Backend:
        ready = self.endpoints.ready()
        if not ready:
            raise LookupError("no server is ready")
        return random.choice(ready)

    async def _call(
        self, expected: int, method: str, path: str, user: User, **kwargs: object
    ) -> httpx.Response | None:
        try:
            backend = self._pick()
        except LookupError:
            self.failures.append(Failure("-", f"{method} {path}", "no ready server"))
            await asyncio.sleep(0.05)  # a client backs off; a busy loop would starve the probes
            return None
        headers = {**user.auth, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        self.requests += 1
        try:
            response = await backend.client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as error:
            self.failures.append(Failure(backend.name, f"{method} {path}", type(error).__name__))
            return None
        if response.status_code != expected:
            outcome = f"{response.status_code} {response.text[:200]}"
            self.failures.append(Failure(backend.name, f"{method} {path}", outcome))
            return None
        response.extensions["backend"] = backend.name
        return response

    async def _work(self, user: User) -> None:
        while not self._stop.is_set():
            created = await self._call(201, "POST", "/api/v1/tasks", user, json={"title": "drill"})
            if created is None:
                continue
            task_id = created.json()["id"]
            user.created_by.setdefault(created.extensions["backend"], []).append(task_id)
            read = await self._call(200, "GET", f"/api/v1/tasks/{task_id}", user)
            if read is not None:
                await self._call(
                    200,
                    "PATCH",
                    f"/api/v1/tasks/{task_id}",
                    user,
                    json={"status": "done"},
                    headers={"If-Match": read.headers["ETag"]},
                )
            await self._call(200, "GET", "/api/v1/tasks", user, params={"limit": 10})

    def start(self) -> None:
        """Start every user's loop."""
        self._tasks = [asyncio.create_task(self._work(user)) for user in self.users]

    async def stop(self) -> None:
        """Let every loop finish its current round, then stop."""
        self._stop.set()
        await asyncio.gather(*self._tasks)
