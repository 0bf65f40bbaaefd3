"""A service with a data model and a reply, for the ``knative-events send`` tests.

``uvicorn send_service:app`` (with this directory on the path) serves it; ``send`` imports
``send_service:registry`` to build example data from ``Order``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from knative_events import CloudEvent, HandlerRegistry, create_app
from knative_events.settings import Settings

registry = HandlerRegistry()


class Order(BaseModel):
    order_id: Annotated[str, Field(min_length=3)]
    quantity: Annotated[int, Field(ge=2)]


@registry.on("com.example.order.created", data=Order)
async def order_created(event: CloudEvent, data: Order) -> CloudEvent | None:
    """Reply with the order it accepted, echoing the extension it was sent."""
    return CloudEvent(
        id=f"reply-{event.id}",
        source="/orders",
        type="com.example.order.accepted",
        data={"order_id": data.order_id, "quantity": data.quantity},
        extensions={"tenant": str((event.extensions or {}).get("tenant", "none"))},
    )


app = create_app(Settings(environ={}, log_level="WARNING"), registry=registry)
