"""The request dependencies every domain declares: the settings, a read or a write session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Request

from service.config import Settings
from service.db.session import ReadSession, WriteSession
from service.state import app_state


async def _settings(request: Request) -> Settings:
    return app_state(request.app).settings


async def _read_session(request: Request) -> AsyncIterator[ReadSession]:
    async with app_state(request.app).database.read_sessions() as session:
        yield session


def write_session(
    *, commit_on: tuple[type[Exception], ...] = ()
) -> Callable[[Request], AsyncIterator[WriteSession]]:
    """A dependency: the request's WriteSession, committed before the response is sent.

    Any error rolls back what the request wrote, except the `commit_on` errors: an
    endpoint whose refusal must keep its writes (a failed login is counted although
    the answer is a 401) commits before that error becomes the response.
    """

    async def session_of_request(request: Request) -> AsyncIterator[WriteSession]:
        async with app_state(request.app).database.write_sessions() as session:
            try:
                try:
                    yield session
                except commit_on:
                    await session.commit()
                    raise
                # Commit before the response exists, so a failed commit changes the status.
                if session.in_transaction():
                    await session.commit()
            except BaseException:
                await session.rollback()
                raise

    return session_of_request


# `scope="function"` ends the session when the endpoint returns, before the response is
# sent; the default request scope would commit after the client already got a 2xx.
ReadSessionDep = Annotated[ReadSession, Depends(_read_session, scope="function")]
"""An autocommit session for an endpoint that only reads (no BEGIN/COMMIT round trips)."""
WriteSessionDep = Annotated[WriteSession, Depends(write_session(), scope="function")]
"""A session in one transaction for an endpoint that writes; rolled back on any error."""
SettingsDep = Annotated[Settings, Depends(_settings)]
"""The settings of the application serving the request."""
