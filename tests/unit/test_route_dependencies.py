"""Every endpoint and dependency is a coroutine: none runs in FastAPI's thread pool.

FastAPI runs a plain `def` endpoint or dependency in a worker thread, a thread hop
(and a wake-up of the event loop) on every request that declares it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from service.app import create_app
from service.core.security import BEARER_REQUIRED
from service.domains.users.dependencies import access_claims
from tests.support.apps import make_settings


def _runs_on_the_loop(call: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    # A class instance (a security scheme) runs on the loop when its __call__ is async.
    method = getattr(call, "__call__", None)  # noqa: B004 - the method itself is inspected
    return not inspect.isfunction(call) and inspect.iscoroutinefunction(method)


def _routes(routes: Any) -> Iterator[APIRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)
        if isinstance(route, APIRoute):
            yield route


def _dependants(routes: Any) -> Iterator[tuple[str, Dependant]]:
    for route in _routes(routes):
        yield route.path, route.dependant


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _app() -> FastAPI:
    return create_app(make_settings("sqlite+aiosqlite:///:memory:"))


def test_every_endpoint_and_dependency_runs_on_the_event_loop() -> None:
    found = list(_dependants(_app().router.routes))
    paths = {path for path, _ in found}
    # The walk reaches the API routes (paths within their router), not only the docs.
    assert {"/tasks/{task_id}", "/auth/token", "/readyz"} <= paths, sorted(paths)
    offending = sorted(
        {
            f"{path}: {getattr(call, '__qualname__', call)}"
            for path, dependant in found
            for call in ([dependant.call] if dependant.call else []) + list(_calls(dependant))
            if not _runs_on_the_loop(call)
        }
    )
    assert not offending, offending


def test_an_operation_declares_the_bearer_requirement_exactly_when_it_reads_the_caller() -> None:
    # The bearer scheme is no sub-dependency (see service.core.security.BEARER_REQUIRED):
    # what puts an operation's requirement in the document is its own declaration.
    app = _app()
    reading = {
        route.operation_id
        for route in _routes(app.router.routes)
        if access_claims in set(_calls(route.dependant))
    }
    declared = {
        operation["operationId"]
        for path_item in app.openapi()["paths"].values()
        for operation in path_item.values()
        if operation.get("security") == BEARER_REQUIRED["security"]
    }
    assert {"getTask", "createTask", "getCurrentUser"} <= reading
    assert reading == declared


def test_the_check_tells_a_plain_function_from_a_coroutine() -> None:
    def plain() -> None: ...

    async def coroutine() -> None: ...

    class Scheme:
        async def __call__(self) -> None: ...

    class PlainScheme:
        def __call__(self) -> None: ...

    assert _runs_on_the_loop(coroutine) and _runs_on_the_loop(Scheme())
    assert not _runs_on_the_loop(plain) and not _runs_on_the_loop(PlainScheme())
