"""DRILLS_* settings: off by default, refused in production and without a strong operator token."""

from __future__ import annotations

import pytest

from service.config import Environment, Settings
from tests.support.server import run_command

TOKEN = "t" * 32
JWT = "j" * 40


def test_drills_are_off_by_default() -> None:
    settings = Settings()
    assert settings.drills_enabled is False
    assert settings.drills_token is None
    assert settings.drills_max_duration_seconds == 10_800


@pytest.mark.parametrize("environment", [Environment.DEVELOPMENT, Environment.STAGING])
def test_drills_start_outside_production_with_a_token(environment: Environment) -> None:
    settings = Settings(
        environment=environment, jwt_secret=JWT, drills_enabled=True, drills_token=TOKEN
    )
    assert settings.drills_enabled


def test_production_refuses_drills_unless_explicitly_allowed() -> None:
    common = {"environment": Environment.PRODUCTION, "jwt_secret": JWT, "drills_token": TOKEN}
    with pytest.raises(ValueError, match="DRILLS_ALLOW_PRODUCTION=true"):
        Settings(drills_enabled=True, **common)  # type: ignore[arg-type]
    allowed = Settings(drills_enabled=True, drills_allow_production=True, **common)  # type: ignore[arg-type]
    assert allowed.drills_enabled
    # Allowing alone enables nothing.
    assert not Settings(drills_allow_production=True, **common).drills_enabled  # type: ignore[arg-type]


@pytest.mark.parametrize("token", [None, "", "t" * 31, "é" * 15])
def test_drills_need_an_operator_token_of_32_bytes(token: str | None) -> None:
    with pytest.raises(ValueError, match="DRILLS_TOKEN, at least 32 bytes"):
        Settings(drills_enabled=True, drills_token=token)


def test_the_operator_token_may_not_be_the_jwt_secret() -> None:
    with pytest.raises(ValueError, match="DRILLS_TOKEN must differ from JWT_SECRET"):
        Settings(drills_enabled=True, drills_token=JWT, jwt_secret=JWT)


@pytest.mark.parametrize("seconds", [59, 86_401])
def test_the_maximum_duration_is_bounded(seconds: int) -> None:
    with pytest.raises(ValueError, match="drills_max_duration_seconds"):
        Settings(drills_max_duration_seconds=seconds)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"ENVIRONMENT": "production", "JWT_SECRET": JWT, "DRILLS_TOKEN": TOKEN},
            "tasks-api: invalid configuration: DRILLS_ENABLED is refused with "
            "ENVIRONMENT=production unless DRILLS_ALLOW_PRODUCTION=true",
        ),
        (
            {"DRILLS_TOKEN": "short"},
            "tasks-api: invalid configuration: DRILLS_ENABLED=true needs DRILLS_TOKEN, "
            "at least 32 bytes",
        ),
    ],
    ids=["production", "short-token"],
)
def test_serve_refuses_to_start_with_one_line_and_exit_2(env: dict[str, str], message: str) -> None:
    result = run_command("serve", env={"DRILLS_ENABLED": "true", **env}, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == message
    assert TOKEN not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
