"""Settings: defaults, parsing, and refusal of unsafe or invalid values."""

from __future__ import annotations

import subprocess

import pytest

from service.config import DEV_JWT_SECRET, Environment, Settings
from service.db.dialect import is_embedded
from tests.support.server import run_command

STRONG = "x" * 40


def test_defaults_need_no_configuration() -> None:
    settings = Settings()
    assert settings.environment is Environment.DEVELOPMENT
    assert is_embedded(settings)
    assert settings.database_url.get_secret_value() == "sqlite+aiosqlite:///./tasks.db"
    assert (settings.host, settings.port, settings.metrics_port) == ("127.0.0.1", 8000, 9000)
    assert settings.docs is True
    assert settings.cors_origins == ()
    assert settings.jwt_key == DEV_JWT_SECRET


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", STRONG)
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = Settings()
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.web_concurrency == 4
    assert settings.log_level == "DEBUG"
    assert settings.docs is False, "docs are off outside development unless enabled"


@pytest.mark.parametrize("secret", [None, DEV_JWT_SECRET, "too-short"])
def test_production_refuses_missing_default_or_short_secret(secret: str | None) -> None:
    with pytest.raises(ValueError, match="JWT_SECRET"):
        Settings(environment=Environment.PRODUCTION, jwt_secret=secret)


def test_unknown_database_driver_is_rejected() -> None:
    with pytest.raises(ValueError, match="postgresql\\+asyncpg"):
        Settings(database_url="mysql://root@localhost/tasks")


def test_out_of_range_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="port"):
        Settings(port=70_000)


def test_safe_database_url_hides_the_password() -> None:
    settings = Settings(database_url="postgresql+asyncpg://app:hunter2@db:5432/tasks")
    assert "hunter2" not in settings.safe_database_url
    assert "db:5432/tasks" in settings.safe_database_url


def _run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_command(*args, env=env, timeout=60)


def test_production_without_secret_exits_2_with_one_line() -> None:
    result = _run_cli({"ENVIRONMENT": "production"}, "serve")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "JWT_SECRET" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_invalid_setting_exits_2_naming_the_variable() -> None:
    result = _run_cli({"WEB_CONCURRENCY": "many"}, "serve")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "tasks-api: invalid setting WEB_CONCURRENCY: "
        "Input should be a valid integer, unable to parse string as an integer"
    )


@pytest.mark.parametrize("value", ["0", "17", "two"])
def test_password_hash_concurrency_out_of_bounds_exits_2(value: str) -> None:
    result = _run_cli({"PASSWORD_HASH_CONCURRENCY": value}, "serve")
    assert result.returncode == 2
    assert result.stderr.startswith("tasks-api: invalid setting PASSWORD_HASH_CONCURRENCY: ")
    assert "Traceback" not in result.stderr


def test_registrations_per_address_default_to_20_and_are_configurable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().registration_max_per_address == 20
    monkeypatch.setenv("REGISTRATION_MAX_PER_ADDRESS", "500")
    assert Settings().registration_max_per_address == 500


@pytest.mark.parametrize("value", ["0", "100001", "many"])
def test_registrations_per_address_out_of_bounds_exit_2(value: str) -> None:
    result = _run_cli({"REGISTRATION_MAX_PER_ADDRESS": value}, "serve")
    assert result.returncode == 2
    assert result.stderr.startswith("tasks-api: invalid setting REGISTRATION_MAX_PER_ADDRESS: ")


def test_invalid_log_format_exits_2() -> None:
    result = _run_cli({"LOG_FORMAT": "xml"}, "serve")
    assert result.returncode == 2
    assert "LOG_FORMAT" in result.stderr
    assert "Traceback" not in result.stderr


def test_forwarded_allow_ips_trusts_no_peer_by_default() -> None:
    from service.server.options import gunicorn_options

    assert Settings().forwarded_allow_ips == ""
    assert gunicorn_options(Settings())["forwarded_allow_ips"] == ""


@pytest.mark.parametrize("value", ["10.0.0.0/8", "127.0.0.1, ::1", "*"])
def test_forwarded_allow_ips_accepts_addresses_and_networks(value: str) -> None:
    assert Settings(forwarded_allow_ips=value).forwarded_allow_ips == value


@pytest.mark.parametrize("value", ["ingress.local", "10.0.0.1/8", "300.1.1.1"])
def test_forwarded_allow_ips_that_are_no_address_exit_2(value: str) -> None:
    result = _run_cli({"FORWARDED_ALLOW_IPS": value}, "serve")
    assert result.returncode == 2
    assert "FORWARDED_ALLOW_IPS" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"), [("REQUEST_HEADER_LIMIT_BYTES", "100"), ("REQUEST_HEADER_COUNT_LIMIT", "0")]
)
def test_header_limits_out_of_bounds_exit_2(name: str, value: str) -> None:
    result = _run_cli({name: value}, "serve")
    assert result.returncode == 2
    assert name in result.stderr
