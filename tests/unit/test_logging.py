"""Logging: JSON lines, redaction, SQL never logged, stdlib loggers routed."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from service.core.logging import REDACTED, configure_logging, format_exception, use_console


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging("DEBUG", "json", stream=buffer)
    yield buffer
    configure_logging("INFO", "json")


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line]


def test_structlog_line_is_json_with_utc_timestamp(stream: io.StringIO) -> None:
    structlog.get_logger("service.test").info("hello", answer=42)
    (line,) = _lines(stream)
    assert line["event"] == "hello"
    assert line["answer"] == 42
    assert line["level"] == "info"
    assert line["logger"] == "service.test"
    assert str(line["timestamp"]).endswith("Z")


def test_stdlib_loggers_share_the_pipeline(stream: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").warning("from uvicorn %s", "x")
    logging.getLogger("gunicorn.error").error("from gunicorn")
    lines = _lines(stream)
    assert [line["logger"] for line in lines] == ["uvicorn.error", "gunicorn.error"]
    assert lines[0]["event"] == "from uvicorn x"


def test_sensitive_keys_are_redacted(stream: io.StringIO) -> None:
    structlog.get_logger("t").info(
        "login", password="hunter2", access_token="abc", headers={"Authorization": "Bearer x"}
    )
    (line,) = _lines(stream)
    assert line["password"] == REDACTED
    assert line["access_token"] == REDACTED
    assert line["headers"] == {"Authorization": REDACTED}


def test_urls_and_bearer_tokens_in_values_are_masked(stream: io.StringIO) -> None:
    structlog.get_logger("t").info(
        "connecting", target="postgresql://app:hunter2@db/tasks", note="sent Bearer eyJhbGci.x.y"
    )
    text = stream.getvalue()
    assert "hunter2" not in text
    assert "eyJhbGci" not in text


def test_sql_is_removed_from_logged_exceptions(stream: io.StringIO) -> None:
    from sqlalchemy.exc import IntegrityError

    error = IntegrityError("INSERT INTO app_user (email) VALUES ($1)", ("a@b.c",), Exception("dup"))
    structlog.get_logger("t").error("failed", exc_info=error)
    text = stream.getvalue()
    assert "INSERT INTO" not in text
    assert "a@b.c" not in text
    assert "IntegrityError" in text


def test_format_exception_keeps_frames_and_type() -> None:
    try:
        raise ValueError("bad value")
    except ValueError as error:
        rendered = format_exception((type(error), error, error.__traceback__))
    assert "test_format_exception_keeps_frames_and_type" in rendered
    assert rendered.endswith("builtins.ValueError: bad value")


def test_console_only_on_request_or_development_tty() -> None:
    assert use_console("console", False, io.StringIO())
    assert not use_console("json", True, io.StringIO())
    assert not use_console(None, True, io.StringIO()), "a pipe is not a TTY"


@pytest.mark.parametrize(
    ("flags", "sampled"), [(TraceFlags(TraceFlags.SAMPLED), True), (TraceFlags(0), False)]
)
def test_lines_in_a_span_carry_its_ids_and_sampled_flag(
    stream: io.StringIO, flags: TraceFlags, sampled: bool
) -> None:
    context = SpanContext(0x1F, 0x2E, is_remote=False, trace_flags=flags)
    with trace.use_span(NonRecordingSpan(context)):
        structlog.get_logger("test").info("inside")
        logging.getLogger("test.stdlib").warning("inside too")
    for line in _lines(stream):
        assert line["trace_id"] == f"{0x1F:032x}"
        assert line["span_id"] == f"{0x2E:016x}"
        assert line["trace_sampled"] is sampled


def test_lines_outside_a_span_carry_no_trace_fields(stream: io.StringIO) -> None:
    structlog.get_logger("test").info("outside")
    (line,) = _lines(stream)
    assert not {"trace_id", "span_id", "trace_sampled"} & set(line)


SECRET_MESSAGE = (
    "cannot reach postgresql://app:hunter2@db:5432/tasks (sent Bearer eyJhbGciOi.x.y, "
    "Authorization: Basic dXNlcjpwYXNzd29yZA==)"
)


def test_format_exception_masks_secrets_in_messages_by_itself() -> None:
    # The rendered exception is safe whatever the processor order: format_exception masks
    # what the message carries, before (or without) redact_secrets seeing it.
    try:
        raise ConnectionError(SECRET_MESSAGE) from RuntimeError("retry Bearer eyJhbGciOi.a.b")
    except ConnectionError as error:
        rendered = format_exception((type(error), error, error.__traceback__))
    for secret in ("hunter2", "eyJhbGciOi", "dXNlcjpwYXNzd29yZA"):
        assert secret not in rendered
    assert "postgresql://app:***@db:5432/tasks" in rendered
    assert "caused by RuntimeError" in rendered


@pytest.mark.parametrize("through", ["structlog", "stdlib"])
def test_logged_exceptions_and_messages_never_carry_credentials(
    stream: io.StringIO, through: str
) -> None:
    error = ConnectionError(SECRET_MESSAGE)
    if through == "structlog":
        structlog.get_logger("t").error(
            "failed", exc_info=error, header="Basic dXNlcjpwYXNzd29yZA=="
        )
    else:
        logging.getLogger("uvicorn.error").error("sent %s", SECRET_MESSAGE, exc_info=error)
    text = stream.getvalue()
    for secret in ("hunter2", "eyJhbGciOi", "dXNlcjpwYXNzd29yZA"):
        assert secret not in text, through
    assert "ConnectionError" in text


def test_prose_about_basic_things_is_left_alone(stream: io.StringIO) -> None:
    structlog.get_logger("t").info("basic checks passed", detail="the basic flow works")
    (line,) = _lines(stream)
    assert (line["event"], line["detail"]) == ("basic checks passed", "the basic flow works")


def test_secrets_inside_lists_are_masked(stream: io.StringIO) -> None:
    structlog.get_logger("t").info(
        "outbound",
        urls=["postgresql://app:hunter2@db/tasks", "https://example.com/ok"],
        headers=[("authorization", "Basic dXNlcjpodW50ZXIy"), ("accept", "*/*")],
        raw=[(b"cookie", b"session=s3cr3t")],
        nested=[{"token": "abc123"}, ["Bearer eyJhbGciOi.x.y"]],
        pairs=({"password": "p4ss"},),
    )
    text = stream.getvalue()
    (line,) = _lines(stream)
    for secret in ("hunter2", "dXNlcjpodW50ZXIy", "s3cr3t", "abc123", "eyJhbGciOi", "p4ss"):
        assert secret not in text, secret
    assert line["urls"] == ["postgresql://app:***@db/tasks", "https://example.com/ok"]
    assert line["headers"] == [["authorization", REDACTED], ["accept", "*/*"]]


def test_lists_without_secrets_are_unchanged(stream: io.StringIO) -> None:
    given = ["a", ("b", 2), [3, "c"]]
    structlog.get_logger("t").info("plain", items=given, pair=("route", "/api/v1/tasks"))
    (line,) = _lines(stream)
    assert line["items"] == ["a", ["b", 2], [3, "c"]]
    assert line["pair"] == ["route", "/api/v1/tasks"]
    assert given == ["a", ("b", 2), [3, "c"]]


def _raised(message: str, cause: str | None = None) -> BaseException:
    try:
        try:
            if cause is not None:
                raise ConnectionError(cause)
        except ConnectionError as inner:
            raise RuntimeError(message) from inner
        raise RuntimeError(message)
    except RuntimeError as error:
        return error


SECRET_MESSAGES = (
    "cannot connect to postgresql+asyncpg://tasks:hunter2@db:5432/tasks",
    "upstream refused Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
    "proxy sent Basic dXNlcjpodW50ZXIy",
)


@pytest.mark.parametrize("message", SECRET_MESSAGES)
def test_secrets_in_exception_messages_are_masked_without_the_redaction_step(
    message: str,
) -> None:
    # Only the exception renderer and the JSON renderer: no redact_secrets at all, as if a
    # processor list were reordered or the redaction step dropped.
    from service.core.logging import _render_exception

    buffer = io.StringIO()
    structlog.configure(
        processors=[_render_exception, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(buffer),
        cache_logger_on_first_use=False,
    )
    try:
        structlog.get_logger("t").error("failed", exc_info=_raised(message, cause=message))
    finally:
        configure_logging("INFO", "json")
    text = buffer.getvalue()
    assert "RuntimeError" in text and "caused by ConnectionError" in text
    for secret in ("hunter2", "eyJhbGciOiJIUzI1NiJ9", "dXNlcjpodW50ZXIy"):
        assert secret not in text


def test_secrets_in_exception_messages_are_masked_in_the_full_pipeline(
    stream: io.StringIO,
) -> None:
    for message in SECRET_MESSAGES:
        structlog.get_logger("t").error("failed", exc_info=_raised(message, cause=message))
    text = stream.getvalue()
    assert text.count("RuntimeError") == len(SECRET_MESSAGES)
    for secret in ("hunter2", "eyJhbGciOiJIUzI1NiJ9", "dXNlcjpodW50ZXIy"):
        assert secret not in text
