"""HTTP endpoints of users and authentication."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from service.core.openapi import (
    BEARER_CHALLENGE_HEADER,
    RETRY_AFTER_HEADER,
    header,
    problem_responses,
    with_headers,
)
from service.core.security import BEARER_REQUIRED
from service.dependencies import SettingsDep, WriteSessionDep
from service.domains.users import grants
from service.domains.users import service as users_service
from service.domains.users.dependencies import (
    ClientAddress,
    LoginSession,
    ReadingUser,
    RefreshSession,
)
from service.domains.users.oauth import CLIENT_CHALLENGE, oauth_problem_responses
from service.domains.users.schemas import RefreshRequest, TokenPair, UserCreate, UserOut
from service.domains.users.token_request import TOKEN_REQUEST_BODY, TokenRequestDep

router = APIRouter()

_CREATED_HEADERS = {201: {"Location": header("The path of the caller's own profile.")}}
_AUTH_HEADERS = {401: BEARER_CHALLENGE_HEADER, 503: RETRY_AFTER_HEADER}
# IETF draft httpapi-ratelimit-headers: the login limits a client has in hand.
_RATE_LIMIT_HEADERS = {
    "RateLimit-Policy": header(
        'The login limits, e.g. `"login";q=10;w=900, "login-address";q=100;w=900`.'
    ),
    "RateLimit": header('What is left of each, e.g. `"login";r=9;t=840, ...` (t: seconds).'),
}
# Password grants only: a refresh grant or a malformed request counts toward no limit.
_PASSWORD_GRANT_HEADERS = {
    name: {**declared, "required": False} for name, declared in _RATE_LIMIT_HEADERS.items()
}
_TOKEN_HEADERS = {
    "Cache-Control": header("`no-store`: no cache keeps tokens (RFC 6749 §5.1)."),
    "Pragma": header("`no-cache`, for HTTP/1.0 caches."),
}


@router.post(
    "/users",
    name="createUser",
    operation_id="createUser",
    tags=["users"],
    summary="Register a user",
    description=(
        "Creates a user. The e-mail is trimmed and unique case-insensitively; the password "
        "has 12 to 128 characters, not only whitespace, is not one of the 20,000 most common "
        "passwords, and is stored as an argon2id hash. A taken e-mail answers 409 in the "
        "same time as a new one answers 201 (the password is hashed either way). "
        "Registrations are limited per client address: 20 within an hour by default, 201 "
        "and 409 alike; beyond, 429 `too_many_registrations` with `Retry-After`, before "
        "any password work. 503 with `Retry-After` when the server is busy with other logins."
    ),
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=with_headers(
        problem_responses(400, 409, 422, 429, 503),
        {**_CREATED_HEADERS, 429: RETRY_AFTER_HEADER, 503: RETRY_AFTER_HEADER},
    ),
)
async def create_user(
    payload: UserCreate,
    *,
    session: WriteSessionDep,
    settings: SettingsDep,
    client: ClientAddress,
    request: Request,
    response: Response,
) -> UserOut:
    """Register a user and point Location at the caller's own profile."""
    user = await users_service.register(
        session=session, settings=settings, payload=payload, client=client
    )
    response.headers["Location"] = str(request.app.url_path_for("getCurrentUser"))
    return UserOut.model_validate(user)


@router.get(
    "/users/me",
    name="getCurrentUser",
    operation_id="getCurrentUser",
    openapi_extra=BEARER_REQUIRED,
    tags=["users"],
    summary="The caller's profile",
    description="Returns the user the bearer access token names.",
    response_model=UserOut,
    responses=with_headers(problem_responses(401, 503), _AUTH_HEADERS),
)
async def get_current_user(user: ReadingUser) -> UserOut:
    """Return the authenticated user."""
    return UserOut.model_validate(user)


@router.post(
    "/auth/token",
    name="issueToken",
    operation_id="issueToken",
    tags=["auth"],
    summary="Log in or refresh (OAuth2 token endpoint)",
    description=(
        "RFC 6749 token endpoint. `grant_type=password` (the default when left out) with "
        "`username` (the e-mail) and `password` returns a bearer access token and a "
        "single-use refresh token; `grant_type=refresh_token` with `refresh_token` rotates "
        "it like `POST /api/v1/auth/refresh`. Errors are problem+json documents that also "
        "carry RFC 6749 §5.2 `error` and `error_description`: unknown e-mail and wrong "
        "password give the same 400 `invalid_grant`. Failed logins are limited within 15 "
        "minutes per e-mail and client address (10 by default, with a doubling back-off "
        "after half of them), per client address (100) and per e-mail from any address "
        "(200); beyond, 429 with `Retry-After`. `RateLimit-Policy` and `RateLimit` describe "
        "the first two. 503 with `Retry-After` when the server is busy with other logins. "
        "Successful answers are `Cache-Control: no-store`."
    ),
    response_model=TokenPair,
    responses=with_headers(
        {**oauth_problem_responses(400, 401, 429), **problem_responses(503)},
        {
            200: {**_TOKEN_HEADERS, **_PASSWORD_GRANT_HEADERS},
            400: _PASSWORD_GRANT_HEADERS,
            401: {"WWW-Authenticate": header(f"The client challenge, `{CLIENT_CHALLENGE}`.")},
            429: {**RETRY_AFTER_HEADER, **_RATE_LIMIT_HEADERS},
            503: RETRY_AFTER_HEADER,
        },
    ),
    openapi_extra=TOKEN_REQUEST_BODY,
)
async def issue_token(
    grant: TokenRequestDep,
    session: LoginSession,
    settings: SettingsDep,
    client: ClientAddress,
    response: Response,
) -> TokenPair:
    """Exchange e-mail and password, or a refresh token, for a token pair."""
    login = await grants.grant_tokens(
        session=session, settings=settings, grant=grant, client=client
    )
    response.headers.update(login.headers)
    _never_stored(response)
    return login.tokens


@router.post(
    "/auth/refresh",
    name="refreshToken",
    operation_id="refreshToken",
    tags=["auth"],
    summary="Rotate a refresh token",
    description=(
        "Exchanges a refresh token for a new pair. Each refresh token works once: presenting "
        "a used one answers 401 and revokes every token of that login."
    ),
    response_model=TokenPair,
    responses=with_headers(
        problem_responses(400, 401, 422, 503), {**_AUTH_HEADERS, 200: _TOKEN_HEADERS}
    ),
)
async def refresh_token(
    payload: RefreshRequest,
    session: RefreshSession,
    settings: SettingsDep,
    client: ClientAddress,
    response: Response,
) -> TokenPair:
    """Exchange a refresh token for a new token pair."""
    pair = await users_service.refresh_tokens(
        session=session, settings=settings, refresh_token=payload.refresh_token, client=client
    )
    _never_stored(response)
    return pair


def _never_stored(response: Response) -> None:
    # RFC 6749 §5.1: a response with tokens must not be stored by any cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
