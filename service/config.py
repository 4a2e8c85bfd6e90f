"""Settings of tasks-api, read from the environment only."""

from __future__ import annotations

import ipaddress
import sys
from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from service.db.url import normalise_database_url

DEV_JWT_SECRET = "tasks-api-development-secret-change-me-0123456789"  # noqa: S105
MIN_SECRET_BYTES = 32


class Environment(StrEnum):
    """Where the service runs; anything but development is held to production rules."""

    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


_SETTINGS_CONFIG = SettingsConfigDict(
    env_prefix="", case_sensitive=False, extra="ignore", frozen=True
)


def _database_url(value: SecretStr) -> SecretStr:
    # libpq URLs (postgresql://, postgres://) become asyncpg URLs here, once; the forms
    # and drivers are known in service/db/url.py, a wrong one stops start-up here.
    return SecretStr(normalise_database_url(value.get_secret_value()))


class MigrationSettings(BaseSettings):
    """What `tasks-api migrate` needs: the database, its own timeouts, logging.

    Nothing serve-only (no JWT secret, no API timeouts): the migration Job must not
    carry a signing key it never uses, nor fail on the API's statement timeout.
    """

    model_config = _SETTINGS_CONFIG

    environment: Environment = Environment.DEVELOPMENT
    database_url: SecretStr = SecretStr("sqlite+aiosqlite:///./tasks.db")
    # A direct connection for migrations (bypassing PgBouncer, possibly a schema owner).
    migration_database_url: SecretStr | None = None
    db_connect_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    db_pgbouncer: bool = False
    migration_lock_timeout_seconds: float = Field(default=300.0, gt=0, le=86_400)
    migration_ddl_lock_timeout_ms: int = Field(default=10_000, ge=0, le=3_600_000)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: SecretStr) -> SecretStr:
        return _database_url(value)

    @field_validator("migration_database_url")
    @classmethod
    def _known_migration_driver(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None or not value.get_secret_value() else _database_url(value)

    @property
    def is_development(self) -> bool:
        """Whether development conveniences (docs, console logs) apply."""
        return self.environment is Environment.DEVELOPMENT

    @property
    def safe_database_url(self) -> str:
        """The database URL with its password masked, for logs."""
        url = make_url(self.database_url.get_secret_value())
        return url.render_as_string(hide_password=True)

    @property
    def migration_url(self) -> SecretStr:
        """The URL migrations connect with: MIGRATION_DATABASE_URL, else DATABASE_URL."""
        return self.migration_database_url or self.database_url

    @property
    def safe_migration_url(self) -> str:
        """The migrations' URL with its password masked, for messages."""
        url = make_url(self.migration_url.get_secret_value())
        return url.render_as_string(hide_password=True)


class Settings(MigrationSettings):
    """Every setting of `tasks-api serve`; the README has a table of them."""

    db_pool_size: int = Field(default=20, ge=1, le=200)
    db_max_overflow: int = Field(default=0, ge=0, le=200)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    db_statement_timeout_ms: int = Field(default=5000, ge=0, le=600_000)

    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "tasks-api"
    jwt_audience: str = "tasks-api"
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=1_209_600, ge=300, le=7_776_000)

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
    # Answers on one keep-alive connection before it is closed (0: no limit), so that
    # connections spread again over the workers after one is recycled or restarted.
    keepalive_max_requests: int = Field(default=100, ge=0, le=1_000_000)
    request_body_limit_bytes: int = Field(default=1_048_576, ge=1_024, le=104_857_600)
    # Passwords hashed at once per worker; each argon2id hash holds 64 MiB while it runs.
    password_hash_concurrency: int = Field(default=1, ge=1, le=16)
    # Logins and registrations that may wait for a hashing thread; beyond, 503 at once.
    # Together with the hashing ones at most half of the worker's requests in flight.
    password_hash_max_waiting: int = Field(default=1, ge=0, le=256)
    # Failed logins allowed within 15 minutes (README, "Security").
    login_max_failures_per_account_address: int = Field(default=10, ge=1, le=10_000)
    login_max_failures_per_address: int = Field(default=100, ge=1, le=100_000)
    login_max_failures_per_account: int = Field(default=200, ge=1, le=100_000)
    # Registrations (201 and 409 alike) allowed per client address within an hour.
    registration_max_per_address: int = Field(default=20, ge=1, le=100_000)

    # Fault injection for staging drills (service/drills): off unless asked for.
    drills_enabled: bool = False
    drills_allow_production: bool = False
    drills_token: SecretStr | None = None
    drills_max_duration_seconds: int = Field(default=10_800, ge=60, le=86_400)

    # Request line and headers of one request; beyond either limit the answer is 431.
    request_header_limit_bytes: int = Field(default=16_384, ge=1_024, le=1_048_576)
    request_header_count_limit: int = Field(default=100, ge=10, le=1_000)
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or CIDR
    # networks, comma separated, or *); none by default.
    forwarded_allow_ips: str = ""
    # API requests in flight per worker beyond which new ones are shed (503 + Retry-After);
    # unset: the pool's connections, DB_POOL_SIZE + DB_MAX_OVERFLOW (see in_flight_limit).
    max_in_flight: int | None = Field(default=None, ge=1, le=10_000)
    # Event-loop lag beyond which a worker lowers its in-flight bound (0: a fixed bound).
    shed_loop_lag_ms: int = Field(default=35, ge=0, le=10_000)
    # Strict-Transport-Security on every answer, where TLS ends in front of the service.
    hsts_enabled: bool = False
    hsts_max_age_seconds: int = Field(default=31_536_000, ge=0, le=63_072_000)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses_or_networks(cls, value: str) -> str:
        for part in (part.strip() for part in value.split(",")):
            if part and part != "*":
                try:
                    ipaddress.ip_network(part)
                except ValueError:
                    raise ValueError(f"not an address or network: {part!r}") from None
        return value

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

    @model_validator(mode="after")
    def _drills_guarded(self) -> Settings:
        if not self.drills_enabled:
            return self
        if self.environment is Environment.PRODUCTION and not self.drills_allow_production:
            raise ValueError(
                "DRILLS_ENABLED is refused with ENVIRONMENT=production "
                "unless DRILLS_ALLOW_PRODUCTION=true"
            )
        token = self.drills_token.get_secret_value() if self.drills_token else ""
        if len(token.encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"DRILLS_ENABLED=true needs DRILLS_TOKEN, at least {MIN_SECRET_BYTES} bytes"
            )
        if token == self.jwt_key:
            # The operator's secret must not also sign every user's tokens.
            raise ValueError("DRILLS_TOKEN must differ from JWT_SECRET")
        return self

    @property
    def docs(self) -> bool:
        """Whether /docs and /openapi.json are served."""
        return self.is_development if self.docs_enabled is None else self.docs_enabled

    @property
    def in_flight_limit(self) -> int:
        """API requests a worker serves at once before it sheds new ones.

        By default as many as the pool has connections: an admitted request never waits
        for one, and a request that would have waited is answered at once instead. A
        worker is one event loop on one core: where requests cost more CPU than they
        wait for the database, a lower bound keeps admitted requests and probes faster.
        """
        return self.max_in_flight or self.db_pool_size + self.db_max_overflow

    @property
    def jwt_key(self) -> str:
        """The signing key; the development default only ever applies in development."""
        return self.jwt_secret.get_secret_value() if self.jwt_secret else DEV_JWT_SECRET


class PurgeSettings(MigrationSettings):
    """What `tasks-api purge` needs: the database settings of `migrate`, and its own bounds.

    Like `migrate` it carries no JWT secret. It connects with DATABASE_URL (the API's
    role deletes rows; no schema owner needed), never MIGRATION_DATABASE_URL.
    """

    # Rows deleted per transaction: each batch holds its row locks only this long.
    purge_batch_size: int = Field(default=1000, ge=1, le=100_000)
    # Transactions per run, over all tables; a run that reaches it leaves the rest to the next.
    purge_max_batches: int = Field(default=1000, ge=1, le=1_000_000)
    purge_max_seconds: float = Field(default=300.0, gt=0, le=86_400)
    # How long a row stays after it stopped counting (clock skew between pods).
    purge_grace_seconds: int = Field(default=300, ge=0, le=86_400)


_AnySettings = TypeVar("_AnySettings", bound=MigrationSettings)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]).upper() or "settings"
    message = first["msg"].removeprefix("Value error, ")
    if field == "SETTINGS" or not first["loc"]:
        return f"invalid configuration: {message}"
    return f"invalid setting {field}: {message}"


def _load(kind: type[_AnySettings]) -> _AnySettings:
    try:
        return kind()
    except ValidationError as error:
        sys.stderr.write(f"tasks-api: {_describe(error)}\n")
        raise SystemExit(2) from None


def load_settings() -> Settings:
    """Read the settings of `serve`; on any invalid value print one line and exit with status 2."""
    return _load(Settings)


def load_migration_settings() -> MigrationSettings:
    """Read the settings of `migrate` only (nothing serve-only is required); exit 2 if invalid."""
    return _load(MigrationSettings)


def load_purge_settings() -> PurgeSettings:
    """Read the settings of `purge` (database settings and PURGE_*); exit 2 if invalid."""
    return _load(PurgeSettings)
