"""HTTP endpoints of users and authentication."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from service.core.openapi import (
    BEARER_CHALLENGE_HEADER,
    RETRY_AFTER_HEADER,
    header,
    problem_responses,
    with_headers,
)
from service.dependencies import SettingsDep, WriteSessionDep
from service.domains.users import service as users_service
from service.domains.users.dependencies import (
    ClientAddress,
    LoginSession,
    ReadingUser,
    RefreshSession,
)
from service.domains.users.schemas import RefreshRequest, TokenPair, UserCreate, UserOut

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
        "same time as a new one answers 201 (the password is hashed either way). 503 with "
        "`Retry-After` when the server is busy with other logins."
    ),
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=with_headers(
        problem_responses(400, 409, 422, 503), {**_CREATED_HEADERS, 503: RETRY_AFTER_HEADER}
    ),
)
async def create_user(
    payload: UserCreate, session: WriteSessionDep, request: Request, response: Response
) -> UserOut:
    """Register a user and point Location at the caller's own profile."""
    user = await users_service.register(session=session, payload=payload)
    response.headers["Location"] = str(request.app.url_path_for("getCurrentUser"))
    return UserOut.model_validate(user)


@router.get(
    "/users/me",
    name="getCurrentUser",
    operation_id="getCurrentUser",
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
    summary="Log in (OAuth2 password grant)",
    description=(
        "Form fields `username` (the e-mail) and `password`. Returns a bearer access token "
        "and a single-use refresh token. Unknown e-mail and wrong password give the same "
        "401. Failed logins are limited within 15 minutes per e-mail and client address "
        "(10 by default, with a doubling back-off after half of them), per client address "
        "(100) and per e-mail from any address (200); beyond, 429 with `Retry-After`. "
        "`RateLimit-Policy` and `RateLimit` describe the first two. 503 with `Retry-After` "
        "when the server is busy with other logins."
    ),
    response_model=TokenPair,
    responses=with_headers(
        problem_responses(400, 401, 422, 429, 503),
        {
            **_AUTH_HEADERS,
            200: _RATE_LIMIT_HEADERS,
            401: {**BEARER_CHALLENGE_HEADER, **_RATE_LIMIT_HEADERS},
            429: {**RETRY_AFTER_HEADER, **_RATE_LIMIT_HEADERS},
        },
    ),
)
async def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: LoginSession,
    settings: SettingsDep,
    client: ClientAddress,
    response: Response,
) -> TokenPair:
    """Exchange e-mail and password for a token pair."""
    login = await users_service.issue_tokens(
        session=session,
        settings=settings,
        username=form.username,
        password=form.password,
        client=client,
    )
    response.headers.update(login.headers)
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
    responses=with_headers(problem_responses(400, 401, 422, 503), _AUTH_HEADERS),
)
async def refresh_token(
    payload: RefreshRequest, session: RefreshSession, settings: SettingsDep, client: ClientAddress
) -> TokenPair:
    """Exchange a refresh token for a new token pair."""
    return await users_service.refresh_tokens(
        session=session, settings=settings, refresh_token=payload.refresh_token, client=client
    )
