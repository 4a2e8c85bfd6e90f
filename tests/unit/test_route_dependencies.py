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

from service.app import create_app
from tests.support.apps import make_settings


def _runs_on_the_loop(call: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    # A class instance (a security scheme) runs on the loop when its __call__ is async.
    method = getattr(call, "__call__", None)  # noqa: B004 - the method itself is inspected
    return not inspect.isfunction(call) and inspect.iscoroutinefunction(method)


def _dependants(routes: Any) -> Iterator[tuple[str, Dependant]]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _dependants(included.routes)
        dependant = getattr(route, "dependant", None)
        if dependant is not None:
            yield route.path, dependant


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


def test_the_check_tells_a_plain_function_from_a_coroutine() -> None:
    def plain() -> None: ...

    async def coroutine() -> None: ...

    class Scheme:
        async def __call__(self) -> None: ...

    class PlainScheme:
        def __call__(self) -> None: ...

    assert _runs_on_the_loop(coroutine) and _runs_on_the_loop(Scheme())
    assert not _runs_on_the_loop(plain) and not _runs_on_the_loop(PlainScheme())
