"""Settings of tasks-api, read from the environment only."""

from __future__ import annotations

import sys
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from service.database_url import normalise_database_url

DEV_JWT_SECRET = "tasks-api-development-secret-change-me-0123456789"  # noqa: S105
MIN_SECRET_BYTES = 32


class Environment(StrEnum):
    """Where the service runs; anything but development is held to production rules."""

    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Every setting of tasks-api; the README has a table of them."""

    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", frozen=True
    )

    environment: Environment = Environment.DEVELOPMENT
    database_url: SecretStr = SecretStr("sqlite+aiosqlite:///./tasks.db")
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    db_connect_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    db_statement_timeout_ms: int = Field(default=5000, ge=0, le=600_000)
    db_pgbouncer: bool = False

    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "tasks-api"
    jwt_audience: str = "tasks-api"
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=1_209_600, ge=300, le=7_776_000)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] | None = None
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    docs_enabled: bool | None = None

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65_535)
    web_concurrency: int = Field(default=1, ge=1, le=64)
    metrics_port: int = Field(default=9000, ge=1, le=65_535)
    drain_delay_seconds: float = Field(default=5.0, ge=0, le=300)
    graceful_timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    max_requests: int = Field(default=10_000, ge=0)
    max_requests_jitter: int = Field(default=1_000, ge=0)
    keepalive_seconds: int = Field(default=75, ge=1, le=3_600)
    request_body_limit_bytes: int = Field(default=1_048_576, ge=1_024, le=104_857_600)
    # Passwords hashed at once per worker; each argon2id hash holds 64 MiB while it runs.
    password_hash_concurrency: int = Field(default=1, ge=1, le=16)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: SecretStr) -> SecretStr:
        # libpq URLs (postgresql://, postgres://) become asyncpg URLs here, once.
        return SecretStr(normalise_database_url(value.get_secret_value()))

    @model_validator(mode="after")
    def _secrets_outside_development(self) -> Settings:
        if self.environment is Environment.DEVELOPMENT:
            return self
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
        if not secret or secret == DEV_JWT_SECRET:
            raise ValueError(
                f"JWT_SECRET must be set outside development (ENVIRONMENT={self.environment})"
            )
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        return self

    @property
    def is_development(self) -> bool:
        """Whether development conveniences (docs, console logs) apply."""
        return self.environment is Environment.DEVELOPMENT

    @property
    def docs(self) -> bool:
        """Whether /docs and /openapi.json are served."""
        return self.is_development if self.docs_enabled is None else self.docs_enabled

    @property
    def jwt_key(self) -> str:
        """The signing key; the development default only ever applies in development."""
        return self.jwt_secret.get_secret_value() if self.jwt_secret else DEV_JWT_SECRET

    @cached_property
    def is_sqlite(self) -> bool:
        """Whether the embedded SQLite database is in use."""
        return make_url(self.database_url.get_secret_value()).get_backend_name() == "sqlite"

    @property
    def safe_database_url(self) -> str:
        """The database URL with its password masked, for logs."""
        url = make_url(self.database_url.get_secret_value())
        return url.render_as_string(hide_password=True)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]).upper() or "settings"
    message = first["msg"].removeprefix("Value error, ")
    if field == "SETTINGS" or not first["loc"]:
        return f"invalid configuration: {message}"
    return f"invalid setting {field}: {message}"


def load_settings() -> Settings:
    """Read the settings; on any invalid value print one line and exit with status 2."""
    try:
        return Settings()
    except ValidationError as error:
        sys.stderr.write(f"tasks-api: {_describe(error)}\n")
        raise SystemExit(2) from None
