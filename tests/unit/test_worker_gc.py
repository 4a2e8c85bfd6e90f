"""The worker freezes what it built at start, so that full collections skip it.

A real uvicorn server (DrainingServer) on a real socket with a real lifespan.
"""

from __future__ import annotations

import gc
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
from uvicorn.config import Config

from service.server.worker import DrainingServer

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Built:
    """Something a worker builds at start and keeps, in a reference cycle as apps are."""

    def __init__(self) -> None:
        self.me = self


def lifespan_app(
    fail: bool, kept: list[object]
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "lifespan"
        message = await receive()
        assert message["type"] == "lifespan.startup"
        if fail:
            await send({"type": "lifespan.startup.failed", "message": "no database"})
            return
        kept.append(Built())
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        await send({"type": "lifespan.shutdown.complete"})

    return app


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process keeps collecting what it makes


def server_of(app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> DrainingServer:
    """As uvicorn's serve() prepares a server before its startup."""
    config = Config(app=app, lifespan="on", log_config=None)
    config.load()
    server = DrainingServer(config)
    server.lifespan = config.lifespan_class(config)
    return server


@asynccontextmanager
async def listening() -> AsyncIterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


async def test_a_started_worker_freezes_what_its_start_built() -> None:
    kept: list[object] = []
    server = server_of(lifespan_app(False, kept))
    async with listening() as sock:
        await server.startup(sockets=[sock])
        try:
            assert server.started
            assert gc.get_freeze_count() > 0
            # The object the lifespan built is in the permanent generation now.
            assert not any(obj is kept[0] for obj in gc.get_objects())
        finally:
            await server.shutdown(sockets=[sock])


async def test_a_worker_whose_start_fails_freezes_nothing() -> None:
    server = server_of(lifespan_app(True, []))
    async with listening() as sock:
        with pytest.raises(SystemExit):
            await server.startup(sockets=[sock])
    assert not server.started
    assert gc.get_freeze_count() == 0


async def test_objects_made_after_the_start_are_still_collected() -> None:
    server = server_of(lifespan_app(False, []))
    async with listening() as sock:
        await server.startup(sockets=[sock])
        try:
            later = Built()
            assert any(obj is later for obj in gc.get_objects()), "tracked, not frozen"
            del later
            assert gc.collect() >= 1, "a cycle made after the start is garbage as usual"
        finally:
            await server.shutdown(sockets=[sock])
