"""HEAD wherever GET is answered (RFC 9110 §9.3.2): the GET response's status and headers."""

from __future__ import annotations

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def answers_get(scope: Scope) -> bool:
    """Whether a route of the app answers GET on the request's path."""
    as_get = {**scope, "method": "GET"}
    return any(route.matches(as_get)[0] is Match.FULL for route in scope["app"].router.routes)


class HeadMiddleware:
    """Runs a HEAD request as the GET of its path and sends the answer without content.

    Innermost, so that the access log, the metrics and the spans still name HEAD. A HEAD
    on a path without GET goes on as HEAD (its 405 names the allowed methods); no HEAD
    answer ever carries content.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_content(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        if answers_get(scope):
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send_without_content)
