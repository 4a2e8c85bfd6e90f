"""The token endpoint's form (RFC 6749 §4.3.2, §6), read and checked the way §5.2 answers.

The form is read here rather than declared as FastAPI `Form` parameters, so that a
missing, repeated or oversized parameter is a 400 `invalid_request`, not a 422.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from starlette.datastructures import FormData

from service.domains.users.oauth import (
    InvalidClientError,
    InvalidTokenRequestError,
    UnsupportedGrantTypeError,
)
from service.domains.users.schemas import PASSWORD_MAX_LENGTH

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
GRANT_TYPES = ("password", "refresh_token")
USERNAME_MAX_LENGTH = 1024
REFRESH_TOKEN_MAX_LENGTH = 512
_KNOWN_FIELDS = ("grant_type", "username", "password", "refresh_token", "scope", "client_id")
_FIELD_MAX_LENGTH = {
    "username": USERNAME_MAX_LENGTH,
    # No registered password is longer, so a longer one is refused before any hashing.
    "password": PASSWORD_MAX_LENGTH,
    "refresh_token": REFRESH_TOKEN_MAX_LENGTH,
}


@dataclass(frozen=True)
class TokenRequest:
    """One grant: e-mail and password, or a refresh token."""

    grant_type: Literal["password", "refresh_token"]
    username: str = ""
    password: str = ""
    refresh_token: str = ""


def _single(form: FormData, name: str) -> str:
    values = form.getlist(name)
    if len(values) > 1:
        raise InvalidTokenRequestError(f"The parameter {name} is repeated.")
    value = values[0] if values else ""
    if not isinstance(value, str):
        raise InvalidTokenRequestError(f"The parameter {name} must be text, not a file.")
    limit = _FIELD_MAX_LENGTH.get(name)
    if limit is not None and len(value) > limit:
        raise InvalidTokenRequestError(f"The parameter {name} exceeds {limit} characters.")
    return value


def _check_client_authentication(request: Request, form: FormData) -> None:
    # Public clients only (RFC 6749 §2.1): a client_id is accepted, but a client that
    # presents a secret cannot be authenticated, which §5.2 answers with 401.
    if _single(form, "client_secret"):
        raise InvalidClientError("Client authentication is not supported; omit client_secret.")
    authorization = request.headers.get("authorization")
    if authorization is None:
        return
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic":
        return
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClientError("The Basic client credentials are malformed.") from None
    _, separator, secret = decoded.partition(":")
    if not separator or secret:
        # Swagger UI and other public clients send `client_id:` with an empty secret.
        raise InvalidClientError("Client authentication is not supported; send no secret.")


async def read_token_request(request: Request) -> TokenRequest:
    """The grant a token request asks for; OAuth2 errors for anything malformed."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != FORM_MEDIA_TYPE:
        raise InvalidTokenRequestError(f"The body must be {FORM_MEDIA_TYPE}.")
    form = await request.form()
    _check_client_authentication(request, form)
    values = {name: _single(form, name) for name in _KNOWN_FIELDS}
    # RFC 6749 requires grant_type; clients of earlier releases omitted it for passwords.
    grant_type = values["grant_type"] or "password"
    if grant_type == "password":
        missing = [name for name in ("username", "password") if not values[name]]
        if missing:
            raise InvalidTokenRequestError(f"The parameter {missing[0]} is required.")
        return TokenRequest("password", username=values["username"], password=values["password"])
    if grant_type == "refresh_token":
        if not values["refresh_token"]:
            raise InvalidTokenRequestError("The parameter refresh_token is required.")
        return TokenRequest("refresh_token", refresh_token=values["refresh_token"])
    raise UnsupportedGrantTypeError("grant_type must be password or refresh_token.")


TokenRequestDep = Annotated[TokenRequest, Depends(read_token_request)]

_COMMON_FIELDS: dict[str, Any] = {
    "scope": {"type": "string", "description": "Accepted and ignored (no scopes)."},
    "client_id": {"type": "string", "description": "Accepted and ignored (public clients)."},
}
TOKEN_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            FORM_MEDIA_TYPE: {
                "schema": {
                    "oneOf": [
                        {
                            "title": "PasswordGrant",
                            "type": "object",
                            "required": ["username", "password"],
                            "properties": {
                                "grant_type": {
                                    "type": "string",
                                    "enum": ["password"],
                                    "description": "Required by RFC 6749; `password` when "
                                    "left out.",
                                },
                                "username": {
                                    "type": "string",
                                    "minLength": 1,
                                    "maxLength": USERNAME_MAX_LENGTH,
                                    "description": "The e-mail address.",
                                },
                                "password": {
                                    "type": "string",
                                    "format": "password",
                                    "minLength": 1,
                                    "maxLength": PASSWORD_MAX_LENGTH,
                                },
                                **_COMMON_FIELDS,
                            },
                        },
                        {
                            "title": "RefreshTokenGrant",
                            "type": "object",
                            "required": ["grant_type", "refresh_token"],
                            "properties": {
                                "grant_type": {"type": "string", "enum": ["refresh_token"]},
                                "refresh_token": {
                                    "type": "string",
                                    "minLength": 1,
                                    "maxLength": REFRESH_TOKEN_MAX_LENGTH,
                                },
                                **_COMMON_FIELDS,
                            },
                        },
                    ]
                }
            }
        },
    }
}
"""`openapi_extra` of the token endpoint: its form, as the two grants it accepts."""
