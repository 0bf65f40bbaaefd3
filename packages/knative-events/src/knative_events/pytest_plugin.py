"""pytest fixtures for a service's handler tests, loaded through the ``pytest11`` entry point.

A service defines ``knative_app`` (the app its ``main.py`` serves, built for tests) in its
``conftest.py``; the plugin adds:

* ``event_client``: a :class:`~knative_events.testing.EventClient` around that app, inside
  its lifespan, no server and no port;
* ``event_factory``: an :class:`~knative_events.testing.EventFactory` of valid events of
  every registered type (data from the handler's model).

Fixture names start with ``knative_``/``event_`` so they do not shadow a project's own
``app`` or ``client``. Nothing is imported beyond ``knative_events.testing``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .app import ServiceApp
from .testing import EventClient, EventFactory

try:  # strict-mode pytest-asyncio needs its own decorator for an async fixture
    from pytest_asyncio import fixture as async_fixture
except ImportError:  # pragma: no cover - without pytest-asyncio async tests do not run anyway
    async_fixture = pytest.fixture  # type: ignore[assignment]


@pytest.fixture
def knative_app() -> ServiceApp:
    """The app under test: a service overrides this fixture in its conftest.py."""
    raise pytest.UsageError(
        "define a `knative_app` fixture in conftest.py that returns your ServiceApp, e.g. "
        "create_app(Settings(environ={}), registry=registry); event_client and "
        "event_factory send events to it"
    )


@async_fixture
async def event_client(knative_app: ServiceApp) -> AsyncIterator[EventClient]:
    """``knative_app`` in-process, inside its lifespan (as uvicorn runs it)."""
    async with EventClient(knative_app) as client:
        yield client


@pytest.fixture
def event_factory(knative_app: ServiceApp) -> EventFactory:
    """Valid events of ``knative_app``'s registered (and declared emitted) types."""
    return EventFactory(knative_app.state.registry)
