"""Helpers for the OpenAPI document: problem+json responses, response headers and links."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from service.core.problem import PROBLEM_JSON, Problem
from service.core.security import bearer_scheme_component

MERGE_PATCH_JSON = "application/merge-patch+json"

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


def merge_patch_body(schema_name: str) -> dict[str, Any]:
    """`openapi_extra` that declares application/merge-patch+json (RFC 7396) for a PATCH body."""
    schema = {"$ref": f"#/components/schemas/{schema_name}"}
    return {"requestBody": {"content": {MERGE_PATCH_JSON: {"schema": schema}}}}


BEARER_CHALLENGE_HEADER = {"WWW-Authenticate": header("The authentication challenge, `Bearer`.")}
RETRY_AFTER_HEADER = {
    "Retry-After": header("Seconds to wait before retrying.", schema_type="integer")
}


# --- The document as a whole: what FastAPI does not generate, and what it generates wrong.

SERVERS = [{"url": "/", "description": "This deployment; every path is absolute."}]
TAGS = [
    {"name": "health", "description": "Liveness and readiness probes; no authentication."},
    {"name": "users", "description": "Registration and the caller's own profile."},
    {"name": "auth", "description": "OAuth2 password grant and refresh-token rotation."},
    {
        "name": "tasks",
        "description": "The caller's tasks: conditional requests, idempotent "
        "creation, cursor pagination.",
    },
]
CONTACT = {"name": "tasks-api maintainers", "url": "https://tasks-api.dev"}
LICENSE = {"name": "Apache-2.0", "identifier": "Apache-2.0"}
_OPERATION_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def complete_document(document: dict[str, Any]) -> dict[str, Any]:
    """The generated document with plain optional parameters, explicit security and defaults."""
    name, scheme = bearer_scheme_component()
    document.setdefault("components", {}).setdefault("securitySchemes", {})[name] = scheme
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method in _OPERATION_METHODS:
                _complete_operation(operation)
    return document


# Statuses the HTTP protocol, the middleware and the body parsing answer on an operation,
# whatever its route says.
_EVERY_OPERATION = {
    413: "The request body exceeds the configured limit.",
    431: "The request line and headers exceed the configured limits.",
}
_JSON_BODY = {
    400: "The body is not parseable: malformed JSON or not UTF-8.",
    415: "The body is not JSON (`application/json` or a `+json` media type).",
    422: "The body or a parameter is invalid; `errors` names each field.",
}


def _complete_operation(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        if not parameter.get("required"):
            parameter["schema"] = _without_null(parameter.get("schema", {}))
    # An operation without requirements is public; say so, or tools apply a global one.
    operation.setdefault("security", [])
    responses: dict[str, Any] = operation["responses"]
    implied = dict(_EVERY_OPERATION)
    if "application/json" in operation.get("requestBody", {}).get("content", {}):
        implied.update(_JSON_BODY)
    for code, description in implied.items():
        responses.setdefault(str(code), problem_entry(description))
    responses.setdefault(
        "default", problem_entry("Any other error (also from a proxy or the platform).")
    )
    for status, response in responses.items():
        content = response.get("content", {})
        if status == "default" or (int(status) >= 400 and PROBLEM_JSON in content):
            # FastAPI files a response `model` under application/json; errors are sent
            # only as problem+json.
            content.pop("application/json", None)
    operation["responses"] = dict(sorted(responses.items(), key=lambda item: item[0]))


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    # FastAPI declares `str | None = None` as anyOf [string, null]: generated clients then
    # accept None and send it as a header value. An absent optional parameter is the way to
    # say "none"; the schema is the plain type.
    alternatives = schema.get("anyOf")
    if not isinstance(alternatives, list):
        return schema
    kept = [alternative for alternative in alternatives if alternative != {"type": "null"}]
    if len(kept) != 1 or len(kept) == len(alternatives):
        return schema
    rest = {key: value for key, value in schema.items() if key not in ("anyOf", "default")}
    return {**kept[0], **rest}


def problem_entry(description: str) -> dict[str, Any]:
    """One problem+json response object."""
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def install_openapi(app: FastAPI) -> None:
    """Make the app's /openapi.json the completed document (generated once, then cached)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            complete_document(generate())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
