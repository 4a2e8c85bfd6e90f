"""Password hashing, access tokens and refresh tokens."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from argon2 import PasswordHasher

from service.config import Settings
from service.core import security
from service.core.security import InvalidTokenError

SECRET = "unit-test-secret-that-is-long-enough-0123456789"


@pytest.fixture
def settings() -> Settings:
    return Settings(jwt_secret=SECRET)


async def test_hash_is_argon2id_with_the_rfc9106_profile_off_the_event_loop() -> None:
    threads: list[str] = []

    class RecordingHasher(PasswordHasher):
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            threads.append(threading.current_thread().name)
            return super().hash(password, salt=salt)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(security, "_hasher", RecordingHasher())
        hashed = await security.hash_password("correct horse battery")

    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert threads and threads[0] != threading.main_thread().name
    assert threads[0].startswith("argon2")
    assert await security.verify_password(hashed, "correct horse battery")
    assert not await security.verify_password(hashed, "wrong")


async def test_verify_rejects_garbage_hashes() -> None:
    assert not await security.verify_password("not-a-hash", "whatever")


async def test_hashing_does_not_block_the_event_loop() -> None:
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    await security.hash_password("correct horse battery")
    stop.set()
    await task

    assert ticks > 3


async def _most_hashes_at_once(concurrency: int, hashes: int) -> int:
    """Run `hashes` stand-in hashes through the hashing pool; how many ran at the same time."""
    security.configure_password_hashing(concurrency)
    running = peak = 0
    lock = threading.Lock()

    def stand_in() -> None:  # a hash's duration without its 64 MiB
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        threading.Event().wait(0.05)
        with lock:
            running -= 1

    try:
        await asyncio.gather(*(security._in_hash_pool(stand_in) for _ in range(hashes)))
    finally:
        security.configure_password_hashing(1)
    return peak


async def test_one_password_is_hashed_at_a_time_by_default() -> None:
    assert await _most_hashes_at_once(1, 6) == 1


async def test_hashing_concurrency_is_the_configured_bound() -> None:
    assert await _most_hashes_at_once(3, 9) == 3


async def test_reconfigured_pool_still_hashes_and_verifies() -> None:
    security.configure_password_hashing(2)
    try:
        stored = await security.hash_password("correct horse battery")
        assert await security.verify_password(stored, "correct horse battery")
        assert not await security.verify_password(stored, "wrong horse battery")
    finally:
        security.configure_password_hashing(1)


async def _admitted_at_once(attempts: int) -> int:
    # How many password-work slots are granted before the next one is refused.
    async with contextlib.AsyncExitStack() as stack:
        for granted in range(attempts):
            try:
                await stack.enter_async_context(security.password_work())
            except security.PasswordWorkBusyError:
                return granted
    return attempts


async def test_password_work_admits_the_threads_and_the_waiting_ones() -> None:
    security.configure_password_hashing(2, 3)
    try:
        assert await _admitted_at_once(10) == 5
        assert await _admitted_at_once(10) == 5, "every slot was given back"
    finally:
        security.configure_password_hashing(1)


async def test_password_work_never_takes_more_than_its_ceiling() -> None:
    security.configure_password_hashing(2, 3, ceiling=2)
    try:
        assert await _admitted_at_once(10) == 2
    finally:
        security.configure_password_hashing(1)


async def test_no_waiting_admits_only_the_hashing_threads() -> None:
    security.configure_password_hashing(1, 0)
    try:
        assert await _admitted_at_once(3) == 1
    finally:
        security.configure_password_hashing(1)


def test_access_token_round_trip(settings: Settings) -> None:
    user_id = uuid.uuid4()

    issued = security.create_access_token(settings, user_id)
    claims = security.decode_access_token(settings, issued.token)

    assert claims.subject == user_id
    assert issued.expires_in == 900
    header = jwt.get_unverified_header(issued.token)
    assert header["alg"] == "HS256"


def test_expired_access_token_is_invalid(settings: Settings) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    issued = security.create_access_token(settings, uuid.uuid4(), now=long_ago)

    with pytest.raises(InvalidTokenError, match="expired"):
        security.decode_access_token(settings, issued.token)


def test_remembered_token_still_expires(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = security.create_access_token(settings, uuid.uuid4())
    security.decode_access_token(settings, issued.token)  # verified, now remembered
    later = datetime.now(UTC).timestamp() + settings.access_token_ttl_seconds + 60
    monkeypatch.setattr("service.core.security.time.time", lambda: later)

    with pytest.raises(InvalidTokenError, match="expired"):
        security.decode_access_token(settings, issued.token)


def test_remembered_token_is_not_valid_for_another_key_or_audience(settings: Settings) -> None:
    issued = security.create_access_token(settings, uuid.uuid4())
    security.decode_access_token(settings, issued.token)  # verified, now remembered
    rotated = Settings(jwt_secret="a-rotated-secret-that-is-long-enough-000000")
    elsewhere = Settings(jwt_secret=SECRET, jwt_audience="another-api")

    for other in (rotated, elsewhere):
        with pytest.raises(InvalidTokenError):
            security.decode_access_token(other, issued.token)


def test_tampered_token_is_not_remembered_as_valid(settings: Settings) -> None:
    issued = security.create_access_token(settings, uuid.uuid4())
    security.decode_access_token(settings, issued.token)
    header, payload, signature = issued.token.split(".")
    first = "B" if signature[0] == "A" else "A"  # all six bits of the first character count
    forged = ".".join((header, payload, first + signature[1:]))

    with pytest.raises(InvalidTokenError):
        security.decode_access_token(settings, forged)


def test_token_signed_with_another_secret_is_invalid(settings: Settings) -> None:
    other = Settings(jwt_secret="another-secret-that-is-long-enough-000000")
    issued = security.create_access_token(other, uuid.uuid4())

    with pytest.raises(InvalidTokenError):
        security.decode_access_token(settings, issued.token)


def test_invalid_token_error_carries_the_bearer_challenge() -> None:
    error = InvalidTokenError()

    assert error.status == 401
    assert error.code == "invalid_token"
    assert error.headers["WWW-Authenticate"].startswith("Bearer")


def test_refresh_tokens_are_random_and_hashed_with_sha256() -> None:
    first, second = security.new_refresh_token(), security.new_refresh_token()

    assert first != second
    assert len(first) >= 43
    digest = security.hash_refresh_token(first)
    assert len(digest) == 64
    assert digest == security.hash_refresh_token(first)
    assert digest != security.hash_refresh_token(second)


def test_derived_keys_differ_by_purpose(settings: Settings) -> None:
    assert security.derive_key(settings, "a") != security.derive_key(settings, "b")
    assert security.derive_key(settings, "a") == security.derive_key(settings, "a")


def test_access_tokens_carry_the_token_version(settings: Settings) -> None:
    issued = security.create_access_token(settings, uuid.uuid4(), token_version=3)

    assert security.decode_access_token(settings, issued.token).token_version == 3
    assert jwt.decode(issued.token, options={"verify_signature": False})["ver"] == 3


@pytest.mark.parametrize("version", [True, "1", -1, 1.5, None])
def test_a_malformed_token_version_is_rejected(settings: Settings, version: object) -> None:
    issued = security.create_access_token(settings, uuid.uuid4())
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "ver": version}, settings.jwt_key, algorithm="HS256")

    with pytest.raises(security.InvalidTokenError):
        security.decode_access_token(settings, forged)
