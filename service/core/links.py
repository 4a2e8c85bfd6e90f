"""Web links (RFC 8288) to the next page of a paginated collection."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request

from service.core.openapi import header

NEXT_LINK_HEADER = {
    "Link": header(
        'The next page, `<URL>; rel="next"` (RFC 8288); absent on the last page.',
        required=False,
    )
}


def next_page_url(request: Request, cursor: str, *, keep: tuple[str, ...]) -> str:
    """The path and query of the next page: the request's `keep` parameters and the cursor.

    A relative reference (RFC 3986 §4.2) resolves against the URL the client used, so
    it stays right behind proxies that rewrite the host.
    """
    query = [(name, value) for name, value in request.query_params.multi_items() if name in keep]
    return f"{request.url.path}?{urlencode([*query, ('cursor', cursor)])}"


def link_value(url: str, rel: str) -> str:
    """One Link header value."""
    return f'<{url}>; rel="{rel}"'
