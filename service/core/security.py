"""Passwords (argon2id, off the event loop), HS256 access tokens and opaque refresh tokens."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import hashlib
import hmac
import os
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi.encoders import jsonable_encoder
from fastapi.security import OAuth2PasswordBearer

from service.config import Settings
from service.core.errors import AppError

JWT_ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("sub", "iat", "exp", "iss", "aud", "jti")
# Optional: tokens of a release that did not issue it count as version 0.
TOKEN_VERSION_CLAIM = "ver"  # noqa: S105 - a claim name, not a secret
# Tolerates small clock differences between the pods that mint and check tokens.
CLOCK_SKEW_SECONDS = 5
# Verified access tokens remembered per worker: about one per active client.
VERIFIED_TOKEN_CACHE_SIZE = 4096
TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a path, not a secret
BEARER_CHALLENGE = "Bearer"
INVALID_BEARER_CHALLENGE = 'Bearer error="invalid_token"'

# argon2id with the RFC 9106 low-memory profile (argon2-cffi's default).
_hasher = PasswordHasher()
# A bounded pool: every hash holds 64 MiB while it runs, so a burst of logins adds at most
# PASSWORD_HASH_CONCURRENCY x 64 MiB to a worker (set by the app factory).
_hash_pool_size = 1
# Hashing threads run at a lower CPU priority than the event loop: under a login burst
# the requests of everyone else keep the CPU they need (Linux schedules threads alone).
HASHING_NICENESS = 10


def _lower_priority() -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


def _new_hash_pool(size: int) -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(
        max_workers=size, thread_name_prefix="argon2", initializer=_lower_priority
    )


_hash_pool = _new_hash_pool(_hash_pool_size)
_dummy_hash: str | None = None
# Password work admitted at once in this process: running plus waiting for a thread.
_admission_capacity = 1 + 1
_admitted = 0
# What a client refused for lack of capacity waits: about one hash's time, rounded up.
PASSWORD_WORK_RETRY_AFTER_SECONDS = 1


class NotAuthenticatedError(AppError):
    """No bearer token was sent."""

    status = 401
    code = "not_authenticated"
    title = "Not Authenticated"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": BEARER_CHALLENGE})
        super().__init__(detail or "A bearer access token is required.", **kwargs)


class InvalidTokenError(AppError):
    """A token is malformed, tampered with, expired, revoked or already used."""

    status = 401
    code = "invalid_token"
    title = "Invalid Token"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": INVALID_BEARER_CHALLENGE})
        super().__init__(detail or "The token is invalid or expired.", **kwargs)


class PasswordWorkBusyError(AppError):
    """Every slot for password work of this process is taken; the client retries shortly."""

    status = 503
    code = "password_work_busy"
    title = "Password Work Busy"

    def __init__(self) -> None:
        seconds = PASSWORD_WORK_RETRY_AFTER_SECONDS
        super().__init__(
            f"Too many logins and registrations at once; retry in {seconds} s.",
            headers={"Retry-After": str(seconds)},
            extra={"retry_after": seconds},
        )


def configure_password_hashing(
    concurrency: int, max_waiting: int = 1, *, ceiling: int | None = None
) -> None:
    """Hash at most `concurrency` passwords at once in this process, `max_waiting` more queued.

    Not the node's CPU count: a container sees every CPU of its node, whatever its limit.
    `ceiling` bounds the logins and registrations admitted at once, whatever the two say:
    each is a request in flight, and they must leave room for everyone else's.
    """
    global _hash_pool, _hash_pool_size, _admission_capacity  # noqa: PLW0603 - one per process
    _admission_capacity = concurrency + max_waiting
    if ceiling is not None:
        _admission_capacity = min(_admission_capacity, ceiling)
    if concurrency == _hash_pool_size:
        return
    previous = _hash_pool
    _hash_pool = _new_hash_pool(concurrency)
    _hash_pool_size = concurrency
    previous.shutdown(wait=False)  # hashes already running finish; nothing new starts there


class _Admission:
    """One admitted request's slot, given back once the request ended and its hashes did.

    A request cancelled while its hash runs (the client went away) ends at once, but
    the thread goes on hashing with its 64 MiB: until it is done the slot stays taken,
    or abandoned requests would keep more hashes running than the bound allows.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._hashing: set[concurrent.futures.Future[Any]] = set()
        self._ended = False
        self._given_back = False

    def track(self, future: concurrent.futures.Future[Any]) -> None:
        """Hold the slot until this piece of the request's work in the pool is done."""
        self._hashing.add(future)
        future.add_done_callback(self._done_in_thread)

    def _done_in_thread(self, future: concurrent.futures.Future[Any]) -> None:
        # Called in the hashing thread: the count belongs to the event loop.
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to give back
            self._loop.call_soon_threadsafe(self._done, future)

    def _done(self, future: concurrent.futures.Future[Any]) -> None:
        self._hashing.discard(future)
        if self._ended and not self._hashing:
            self._give_back()

    def end(self) -> None:
        """The request is done with its password work; the slot is free once its hashes are."""
        self._ended = True
        self._hashing = {future for future in self._hashing if not future.done()}
        if not self._hashing:
            self._give_back()

    def _give_back(self) -> None:
        global _admitted  # noqa: PLW0603 - one count per process
        if not self._given_back:
            self._given_back = True
            _admitted -= 1


_admission: contextvars.ContextVar[_Admission | None] = contextvars.ContextVar(
    "password_work_admission", default=None
)


@contextlib.asynccontextmanager
async def password_work() -> AsyncIterator[None]:
    """Admit one login's or registration's password work, or raise PasswordWorkBusyError at once.

    Beyond the bound a request is refused instead of queued: a longer queue of hashes
    would only hold its clients, and their requests in flight, for longer. One event
    loop per process, so a plain counter is exact. The slot is held until the request
    ends and every hash it started has finished (see _Admission).
    """
    global _admitted  # noqa: PLW0603 - one count per process
    if _admitted >= _admission_capacity:
        raise PasswordWorkBusyError
    _admitted += 1
    admission = _Admission(asyncio.get_running_loop())
    token = _admission.set(admission)
    try:
        yield
    finally:
        _admission.reset(token)
        admission.end()


async def _in_hash_pool(function: Any, *args: Any) -> Any:
    admission = _admission.get()
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        # The request was cancelled (and something swallowed that): a hash would serve no one.
        raise asyncio.CancelledError
    future = _hash_pool.submit(function, *args)
    if admission is not None:
        admission.track(future)
    # Cancelling the await cancels a hash still queued; a running one goes on (tracked).
    return await asyncio.wrap_future(future)


async def hash_password(password: str) -> str:
    """Hash a password with argon2id in the hashing thread pool."""
    result: str = await _in_hash_pool(_hasher.hash, password)
    return result


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the stored hash (checked in the hashing thread pool)."""
    result: bool = await _in_hash_pool(_verify, password_hash, password)
    return result


async def verify_dummy_password(password: str) -> None:
    """Spend the time of one verification, so that unknown users answer like wrong passwords."""
    global _dummy_hash  # noqa: PLW0603 - computed once per process, on first use
    if _dummy_hash is None:
        _dummy_hash = await hash_password(secrets.token_urlsafe(16))
    await verify_password(_dummy_hash, password)


def password_needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash uses weaker parameters than the current ones."""
    return _hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True)
class AccessToken:
    """A signed access token and its lifetime in seconds."""

    token: str
    expires_in: int


@dataclass(frozen=True)
class AccessClaims:
    """The validated claims of an access token."""

    subject: uuid.UUID
    token_id: str
    expires_at: datetime
    # The user's token version when the token was issued (0 for tokens that carry none).
    token_version: int = 0


def create_access_token(
    settings: Settings,
    subject: uuid.UUID,
    *,
    token_version: int = 0,
    now: datetime | None = None,
) -> AccessToken:
    """Sign an access token for a user with the configured secret, issuer and audience.

    `ver` is the user's token version: raising the stored one revokes the token.
    """
    issued = int((now or datetime.now(UTC)).timestamp())
    claims = {
        "sub": str(subject),
        "iat": issued,
        "exp": issued + settings.access_token_ttl_seconds,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": uuid.uuid4().hex,
        TOKEN_VERSION_CLAIM: token_version,
    }
    token = jwt.encode(claims, settings.jwt_key, algorithm=JWT_ALGORITHM)
    return AccessToken(token=token, expires_in=settings.access_token_ttl_seconds)


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    """Validate an access token (pinned algorithm, every required claim) and return its claims.

    A token that verified once is remembered (keyed by the whole token, signature
    included, and by the key, issuer and audience it verified against), so that a
    client's repeated calls skip the HMAC and JSON work; its expiry is still checked
    on every call.
    """
    claims = _verified_access_token(
        token, settings.jwt_key, settings.jwt_audience, settings.jwt_issuer
    )
    if claims.expires_at.timestamp() + CLOCK_SKEW_SECONDS <= time.time():
        raise InvalidTokenError("The access token has expired.")
    return claims


@lru_cache(maxsize=VERIFIED_TOKEN_CACHE_SIZE)
def _verified_access_token(token: str, key: str, audience: str, issuer: str) -> AccessClaims:
    # Raises for any invalid token; lru_cache remembers only tokens that verified.
    try:
        claims: Mapping[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[JWT_ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": list(REQUIRED_CLAIMS), "verify_signature": True},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidTokenError("The access token has expired.") from None
    except jwt.InvalidTokenError:
        raise InvalidTokenError("The access token is invalid.") from None
    subject, token_id = claims.get("sub"), claims.get("jti")
    if not isinstance(subject, str) or not isinstance(token_id, str):
        raise InvalidTokenError("The access token is invalid.")
    version = claims.get(TOKEN_VERSION_CLAIM, 0)
    # bool is an int subclass; `"ver": true` is no version.
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise InvalidTokenError("The access token is invalid.")
    try:
        user_id = uuid.UUID(subject)
    except ValueError:
        raise InvalidTokenError("The access token is invalid.") from None
    return AccessClaims(
        subject=user_id,
        token_id=token_id,
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        token_version=version,
    )


def new_refresh_token() -> str:
    """A random opaque refresh token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """The SHA-256 hex digest under which a refresh token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def derive_key(settings: Settings, purpose: str) -> bytes:
    """A key for one purpose (e.g. cursor signing) derived from the JWT secret."""
    return hmac.new(settings.jwt_key.encode(), purpose.encode(), hashlib.sha256).digest()


bearer_scheme = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL,
    auto_error=False,
    description="Access token from `POST /api/v1/auth/token` (OAuth2 password grant).",
)

# The scheme is called by the caller's dependency, not declared as one of its own: as a
# sub-dependency FastAPI would walk it for scopes and cache keys on every request. An
# authenticated operation names the requirement itself (`openapi_extra=BEARER_REQUIRED`),
# and the document gets the scheme's component from `bearer_scheme_component`.
BEARER_REQUIRED: dict[str, Any] = {"security": [{bearer_scheme.scheme_name: []}]}


def bearer_scheme_component() -> tuple[str, dict[str, Any]]:
    """The OpenAPI security scheme of the access token: its name and object."""
    scheme: dict[str, Any] = jsonable_encoder(bearer_scheme.model, by_alias=True, exclude_none=True)
    return bearer_scheme.scheme_name, scheme
