"""A service built on the package the way a rendered service is: one registry, one app.

``uvicorn example_service:app`` (with this directory on the path) is what a service's
``uvicorn <package>.main:app`` does; the subprocess tests start it that way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from knative_events import CloudEvent, HandlerRegistry, create_app
from knative_events import Settings as RuntimeSettings

logger = logging.getLogger(__name__)

EVENT_TYPES = ("com.example.order.created", "com.example.order.cancelled")

registry = HandlerRegistry()


@dataclass(frozen=True, init=False)
class Settings(RuntimeSettings):
    """The runtime settings with this service's defaults, as a service writes them."""

    k_service: str = "example-service"
    max_concurrent_handlers: int = 100


@registry.on(EVENT_TYPES[0])
async def order_created(event: CloudEvent, data: Any) -> CloudEvent | None:
    logger.debug("received %s", event.type)
    return None


@registry.on(EVENT_TYPES[1], direct_only=True)
async def order_cancelled(event: CloudEvent, data: Any) -> CloudEvent | None:
    logger.debug("received %s", event.type)
    return None


app = create_app(Settings(), registry=registry)
