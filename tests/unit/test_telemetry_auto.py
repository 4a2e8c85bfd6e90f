"""Coexistence with auto-instrumentation, in-process: what is detected and what is removed.

The live test runs the real `opentelemetry-instrument`; these check the pieces on
their own, with the contrib instrumentors the auto-instrumentation would load.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from service.app import create_app
from service.config import Settings
from service.telemetry import auto
from tests.support.apps import make_settings


@pytest.fixture
def settings() -> Settings:
    return make_settings("sqlite+aiosqlite:///unused.db", environment="development")


@pytest.fixture
def fastapi_instrumented() -> Iterator[None]:
    """FastAPIInstrumentor().instrument(), as auto-instrumentation calls it at start."""
    instrumentor = FastAPIInstrumentor()
    instrumentor.instrument()
    try:
        yield
    finally:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


def test_the_contrib_server_middleware_is_removed_from_the_app(
    settings: Settings, fastapi_instrumented: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fastapi

    import service.app

    # Imported after auto-instrumentation ran, service.app would hold its FastAPI class.
    monkeypatch.setattr(service.app, "FastAPI", fastapi.FastAPI)
    app = create_app(settings)
    assert type(app).__name__ == "_InstrumentedFastAPI"
    assert getattr(app, "_is_instrumented_by_opentelemetry", None) is False
    assert not auto.has_asgi_server_middleware(app)
    # FastAPI's native telemetry sees no contrib middleware, so it makes the server span.
    from fastapi.telemetry._asgi import _legacy_otel

    assert not _legacy_otel(app.middleware_stack)


def test_the_check_finds_the_contrib_middleware_it_removes(fastapi_instrumented: None) -> None:
    import fastapi

    app = fastapi.FastAPI()  # the instrumented class, as auto-instrumentation leaves it
    app.middleware_stack = app.build_middleware_stack()
    assert auto.has_asgi_server_middleware(app)
    auto.remove_server_instrumentation(app)
    assert not auto.has_asgi_server_middleware(app)


def test_an_app_without_contrib_instrumentation_is_left_alone(settings: Settings) -> None:
    app = create_app(settings)
    assert app.middleware_stack is None, "not built early: middleware can still be added"
    auto.remove_server_instrumentation(app)
    assert app.middleware_stack is None


def test_duplicating_instrumentations_are_switched_off(fastapi_instrumented: None) -> None:
    asyncpg = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    asyncpg.instrument()
    try:
        assert sorted(auto.remove_duplicating_instrumentations()) == ["asyncpg", "fastapi"]
        assert not asyncpg.is_instrumented_by_opentelemetry
        assert auto.remove_duplicating_instrumentations() == [], "nothing left to remove"
    finally:
        if asyncpg.is_instrumented_by_opentelemetry:
            asyncpg.uninstrument()


def test_no_installed_providers_without_an_sdk_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry import trace

    monkeypatch.setattr(trace, "get_tracer_provider", trace.NoOpTracerProvider)
    assert auto.installed_providers() is None
    assert not auto.auto_instrumented(), "this test process ran no sitecustomize"
