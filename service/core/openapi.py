"""Helpers for the OpenAPI document: problem+json responses, response headers and links."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from service.core.problem import PROBLEM_JSON, Problem

Responses = dict[int | str, dict[str, Any]]


def problem_responses(*statuses: int) -> Responses:
    """OpenAPI response entries (problem+json) for the given statuses."""
    # `model` registers the Problem component (FastAPI files it under application/json);
    # the problem+json entry, the media type actually sent, refers to the same schema.
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def header(
    description: str, *, schema_type: str = "string", required: bool = True
) -> dict[str, Any]:
    """An OpenAPI header object."""
    return {"description": description, "required": required, "schema": {"type": schema_type}}


def _with_entries(
    responses: Responses, field: str, additions: Mapping[int, Mapping[str, Any]]
) -> Responses:
    # A copy of the responses, with `additions` merged into each status code's `field`.
    result = dict(responses)
    for status, declared in additions.items():
        entry = dict(result.get(status, {}))
        entry[field] = {**entry.get(field, {}), **declared}
        result[status] = entry
    return result


def with_headers(responses: Responses, headers: Mapping[int, Mapping[str, Any]]) -> Responses:
    """The responses with header objects added to the given status codes."""
    return _with_entries(responses, "headers", headers)


def with_links(
    responses: Responses, links: Mapping[int, Mapping[str, Mapping[str, Any]]]
) -> Responses:
    """The responses with OpenAPI link objects added to the given status codes."""
    return _with_entries(responses, "links", links)


BEARER_CHALLENGE_HEADER = {"WWW-Authenticate": header("The authentication challenge, `Bearer`.")}
RETRY_AFTER_HEADER = {
    "Retry-After": header("Seconds to wait before retrying.", schema_type="integer")
}
