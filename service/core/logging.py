"""JSON log lines on stdout through one structlog pipeline for every logger."""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from collections.abc import MutableMapping
from functools import lru_cache
from types import TracebackType
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[REDACTED]"
_SENSITIVE_KEY = re.compile(
    r"pass(word)?|token|secret|authorization|cookie|api[_-]?key|credential|dsn|database_url",
    re.IGNORECASE,
)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@", re.IGNORECASE)
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")
# `Basic <base64 of user:password>` as an Authorization value; prose ("basic checks") is
# lower case, a credential of eight characters or more follows the capitalised scheme.
_BASIC = re.compile(r"\b(Basic|BASIC)\s+[A-Za-z0-9+/]{8,}={0,2}")
_SQL_MARKER = re.compile(r"\[SQL: .*", re.DOTALL)

_NOISY_LOGGERS = {
    "sqlalchemy.engine": logging.WARNING,
    "sqlalchemy.pool": logging.WARNING,
    "asyncio": logging.WARNING,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "urllib3": logging.WARNING,
    "opentelemetry": logging.WARNING,
    # Alembic narrates every context it opens (readiness opens one per probe);
    # `tasks-api migrate` prints what it changed itself.
    "alembic": logging.WARNING,
}


def _redact_value(value: Any) -> Any:
    # The substring tests skip both expressions for the common value (most lines).
    if isinstance(value, str):
        if "@" in value:
            value = _URL_PASSWORD.sub(r"\g<scheme>***@", value)
        if "bearer" in value.lower():
            value = _BEARER.sub("Bearer " + REDACTED, value)
        if "Basic" in value or "BASIC" in value:
            value = _BASIC.sub("Basic " + REDACTED, value)
    return value


@lru_cache(maxsize=1024)
def _is_sensitive_key(key: str) -> bool:
    # Log keys are few and repeat on every line: match each name once (bounded,
    # as nested mappings may carry keys from data).
    return _SENSITIVE_KEY.search(key) is not None


def _redact(data: MutableMapping[str, Any]) -> None:
    for key, value in list(data.items()):
        if _is_sensitive_key(str(key)):
            data[key] = REDACTED
        else:
            data[key] = _redact_nested(value)


def _redact_nested(value: Any) -> Any:
    # Mappings are masked in place; lists and tuples (headers as pairs, a list of URLs)
    # become masked copies, so that a caller's own sequence is never changed.
    if isinstance(value, MutableMapping):
        _redact(value)
        return value
    if isinstance(value, list | tuple):
        if (
            len(value) == 2
            and isinstance(value[0], str | bytes)
            and _is_sensitive_key(
                value[0].decode("latin-1") if isinstance(value[0], bytes) else value[0]
            )
        ):
            # A (name, value) pair such as ("authorization", "Basic ...").
            masked = [value[0], REDACTED]
        else:
            masked = [_redact_nested(item) for item in value]
        return tuple(masked) if isinstance(value, tuple) else masked
    return _redact_value(value)


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Mask values whose key names a secret, URL passwords and bearer tokens."""
    _redact(event_dict)
    return event_dict


def _safe_message(exc: BaseException) -> str:
    # SQLAlchemy messages end with the SQL and its parameters; never log those. Secrets in
    # the message (a URL's password, a token) are masked here, not only by redact_secrets:
    # the rendered exception must be safe whatever the order of the processors.
    message = _SQL_MARKER.sub("[SQL omitted]", str(exc)).strip()
    redacted: str = _redact_value(message)
    return redacted


def format_exception(
    exc_info: tuple[type[BaseException], BaseException, TracebackType | None],
) -> str:
    """A traceback of frames and exception types, with SQL and parameters removed."""
    _, exc, tb = exc_info
    lines = ["Traceback (most recent call last):"]
    for frame in traceback.extract_tb(tb):
        lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
    lines.append(f"{type(exc).__module__}.{type(exc).__qualname__}: {_safe_message(exc)}")
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        lines.append(f"caused by {type(cause).__qualname__}: {_safe_message(cause)}")
    return "\n".join(lines)


def _render_exception(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    exc_info = event_dict.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and exc_info[0] is not None:
        event_dict["exception"] = format_exception(exc_info)
    return event_dict


def _drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)
    return event_dict


def _add_otel_ids(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
        # With ratio sampling most ids lead to no stored trace: say which ones do.
        event_dict.setdefault("trace_sampled", context.trace_flags.sampled)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        _add_otel_ids,
        _render_exception,
        _drop_color_message,
        redact_secrets,
    ]


class _CurrentStdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each record to sys.stdout as it is at that moment (it may be replaced)."""

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, _: TextIO) -> None:
        """The stream is always the current sys.stdout."""


class _LineWriter:
    """The logger under structlog's own loggers: writes each rendered line and flushes.

    structlog events skip the stdlib machinery (records, handlers, formatter), which
    costs more than the rendering itself; stdlib records still reach the same stream
    through the root handler, rendered by the same processors.
    """

    _lock = threading.Lock()

    def __init__(self, name: str, stream: TextIO | None) -> None:
        self.name = name
        self._stream = stream

    def msg(self, message: str) -> None:
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(message + "\n")
            stream.flush()

    debug = info = warning = error = critical = exception = msg


def use_console(log_format: str | None, development: bool, stream: TextIO) -> bool:
    """Console rendering when asked for, or by default in development on a TTY."""
    if log_format is not None:
        return log_format == "console"
    return development and stream.isatty()


def configure_logging(
    level: str = "INFO",
    log_format: str | None = "json",
    development: bool = False,
    stream: TextIO | None = None,
) -> None:
    """Route structlog and every stdlib logger through one JSON (or console) pipeline.

    Without `stream`, lines go to sys.stdout as it is when each line is written.
    """
    handler: logging.Handler = (
        logging.StreamHandler(stream) if stream is not None else _CurrentStdoutHandler()
    )
    target = stream
    stream = stream or sys.stdout
    console = use_console(log_format, development, stream)
    renderer: Processor = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty())
        if console
        else structlog.processors.JSONRenderer()
    )
    shared = _shared_processors()

    def line_writer(*args: Any) -> _LineWriter:
        return _LineWriter(str(args[0]) if args else "root", target)

    structlog.configure(
        processors=[*shared, renderer],
        logger_factory=line_writer,
        # Events below the level cost one method call; the class is rebuilt on every
        # configure() (loggers are not cached, so a new level applies at once).
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "gunicorn", "gunicorn.error", "alembic"):
        named = logging.getLogger(name)
        named.handlers = []
        named.propagate = True
    for name in ("uvicorn.access", "gunicorn.access"):
        # tasks-api writes its own access line (service.access); these would repeat it.
        named = logging.getLogger(name)
        named.handlers = []
        named.propagate = False
        named.disabled = True
    for name, noisy_level in _NOISY_LOGGERS.items():
        logging.getLogger(name).setLevel(max(noisy_level, logging.getLevelName(level)))
