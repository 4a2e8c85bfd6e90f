"""DATABASE_URL in the forms operators' Secrets hold, normalised to SQLAlchemy's asyncpg URL.

CloudNativePG, RDS, Heroku and most tools write libpq URLs (`postgresql://`,
`postgres://`). asyncpg takes its connection options as keyword arguments, so libpq
query parameters are translated where asyncpg has the same option and refused, by name
and with what to use instead, where it has not: a parameter silently dropped could turn
a verified TLS connection into an unverified one.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

ASYNCPG = "postgresql+asyncpg"
LIBPQ_SCHEMES = frozenset({"postgresql", "postgres"})
ACCEPTED_SCHEMES = "postgresql://, postgres://, postgresql+asyncpg:// or sqlite+aiosqlite:///"
SSL_MODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
SESSION_ATTRS = frozenset(
    {"any", "primary", "standby", "prefer-standby", "read-write", "read-only"}
)
# libpq parameter -> asyncpg keyword argument of the same meaning.
TRANSLATED = {"sslmode": "ssl", "target_session_attrs": "target_session_attrs"}
CHOICES = {"sslmode": SSL_MODES, "target_session_attrs": SESSION_ATTRS}
# libpq parameters asyncpg does not take in the URL, and what to use instead.
REFUSED = {
    "sslrootcert": "set PGSSLROOTCERT to the file instead",
    "sslcert": "set PGSSLCERT to the file instead",
    "sslkey": "set PGSSLKEY to the file instead",
    "sslcrl": "set PGSSLCRL to the file instead",
    "connect_timeout": "use DB_CONNECT_TIMEOUT_SECONDS instead",
    "application_name": "tasks-api sets application_name itself",
}


def normalise_database_url(raw: str) -> str:
    """The URL for SQLAlchemy (asyncpg or aiosqlite); ValueError names what is wrong."""
    try:
        url = make_url(raw)
    except Exception:
        raise ValueError("not a database URL") from None
    if url.drivername in {ASYNCPG, "sqlite+aiosqlite"}:
        return raw
    if url.drivername not in LIBPQ_SCHEMES:
        raise ValueError(f"use {ACCEPTED_SCHEMES}")
    return _translated(url).render_as_string(hide_password=False)


def _translated(url: URL) -> URL:
    query: dict[str, str] = {}
    for name, given in url.query.items():
        values = given if isinstance(given, tuple) else (given,)
        if len(values) != 1:
            raise ValueError(f"query parameter {name} is given more than once")
        (value,) = values
        if name in REFUSED:
            raise ValueError(f"query parameter {name} is not supported: {REFUSED[name]}")
        if name not in TRANSLATED:
            known = ", ".join(sorted(TRANSLATED))
            raise ValueError(f"unsupported query parameter {name} (supported: {known})")
        if value not in CHOICES[name]:
            allowed = ", ".join(sorted(CHOICES[name]))
            raise ValueError(f"{name}={value} is not one of {allowed}")
        query[TRANSLATED[name]] = value
    return url.set(drivername=ASYNCPG, query=query)
