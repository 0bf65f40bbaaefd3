"""The event runtime of a Python service on Knative.

CloudEvents in (binary, structured and batch HTTP modes) and out, a handler registry, the
ASGI app that serves events, health probes and metrics, JSON logs and settings from the
environment. A service needs three things from here::

    from knative_events import CloudEvent, HandlerRegistry, Settings, create_app

    registry = HandlerRegistry()

    @registry.on("com.example.order.created")
    async def order_created(event: CloudEvent, data: object) -> CloudEvent | None: ...

    app = create_app(Settings(), registry=registry)  # uvicorn <package>.main:app

The names below are loaded on first use, not when the package is imported: a pod scaled
from zero should spend its start-up on what its first event needs, and the emitter (httpx)
and the version lookup (``importlib.metadata``) are not that.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .app import ServiceApp, create_app
    from .cloudevents.models import CloudEvent
    from .cloudevents.registry import HandlerRegistry, Registration
    from .emitter import EmitError, EventEmitter
    from .settings import Settings, SettingsError

    __version__: str

__all__ = [
    "CloudEvent",
    "EmitError",
    "EventEmitter",
    "HandlerRegistry",
    "Registration",
    "ServiceApp",
    "Settings",
    "SettingsError",
    "__version__",
    "create_app",
]

_HOMES: Final[dict[str, str]] = {
    "CloudEvent": ".cloudevents.models",
    "EmitError": ".emitter",
    "EventEmitter": ".emitter",
    "HandlerRegistry": ".cloudevents.registry",
    "Registration": ".cloudevents.registry",
    "ServiceApp": ".app",
    "Settings": ".settings",
    "SettingsError": ".settings",
    "create_app": ".app",
}


def __getattr__(name: str) -> Any:
    """Import a public name's module the first time the name is used."""
    if name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415 - not needed to serve events

        value: Any = version("knative-events")
    elif name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
