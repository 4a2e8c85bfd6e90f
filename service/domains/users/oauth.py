"""RFC 6749 §5.2 errors of the token endpoint, sent as problem+json with `error` members.

A token endpoint error is one document for both kinds of client: an OAuth 2.0
client reads `error` and `error_description`, a problem+json client reads `type`,
`status`, `code` and `detail` (RFC 9457 allows such extension members).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal, cast

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from service.core.errors import AppError
from service.core.problem import PROBLEM_JSON, Absent, Problem

CLIENT_CHALLENGE = 'Basic realm="tasks-api"'
TOKEN_ERRORS = (
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unsupported_grant_type",
)


class OAuthError(AppError):
    """An error of the token endpoint, with its RFC 6749 `error` code."""

    status = 400
    error: ClassVar[str] = "invalid_request"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.extra = {"error": self.error, "error_description": self.detail, **self.extra}


class InvalidTokenRequestError(OAuthError):
    """A parameter is missing, repeated, too long, or the body is not a form."""

    code = "invalid_request"
    title = "Invalid Request"


class UnsupportedGrantTypeError(OAuthError):
    """A grant type other than `password` and `refresh_token`."""

    code = "unsupported_grant_type"
    title = "Unsupported Grant Type"
    error = "unsupported_grant_type"


class InvalidClientError(OAuthError):
    """The client tried to authenticate; tasks-api has public clients only, so that fails."""

    status = 401
    code = "invalid_client"
    title = "Invalid Client"
    error = "invalid_client"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": CLIENT_CHALLENGE})


class InvalidGrantError(OAuthError):
    """The refresh token presented to the token endpoint is invalid, expired or revoked."""

    code = "invalid_grant"
    title = "Invalid Grant"
    error = "invalid_grant"


class ReusedGrantError(InvalidGrantError):
    """The refresh token was used before; its family and the user's access tokens are revoked."""


def _requires_error(schema: JsonDict) -> None:
    # Problem's own rule (no member required, no `null` defaults), then §5.2's: `error`.
    problem_rule = Problem.model_config.get("json_schema_extra")
    if callable(problem_rule):
        cast(Callable[[JsonDict], None], problem_rule)(schema)
    schema["required"] = ["error"]


class TokenProblem(Problem):
    """A problem of the token endpoint: also an RFC 6749 §5.2 error response."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_requires_error)

    error: Literal[
        "invalid_request", "invalid_client", "invalid_grant", "unsupported_grant_type"
    ] = Field(description="RFC 6749 §5.2 error code.", examples=["invalid_grant"])
    error_description: Absent[str] = Field(
        default=None,
        description="RFC 6749 §5.2: the same text as `detail`.",
        examples=["The e-mail or password is incorrect."],
    )


_TOKEN_PROBLEM_REF = {"$ref": "#/components/schemas/TokenProblem"}


def oauth_problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries of token endpoint errors: problem+json that also has `error` members."""
    descriptions = {
        400: "RFC 6749 `invalid_request`, `invalid_grant` (wrong e-mail or password, or an "
        "invalid, expired or reused refresh token) or `unsupported_grant_type`.",
        401: "RFC 6749 `invalid_client`: the client tried to authenticate (public clients only).",
        429: "Too many failed logins for the e-mail (`invalid_grant`); see `Retry-After`.",
    }
    return {
        status: {
            "model": TokenProblem,
            "description": descriptions[status],
            "content": {PROBLEM_JSON: {"schema": _TOKEN_PROBLEM_REF}},
        }
        for status in statuses
    }
