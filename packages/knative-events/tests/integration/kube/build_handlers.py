"""Build handlers as a service writes them on the ``service-manager`` extra.

The same shape as the template's ``handlers/builds.py``: one ``ManagerProvider`` made from
the service's ``ManagerDefaults``, one handler per event type.
"""

from __future__ import annotations

from typing import Final

from kube_support import DEFAULTS

from knative_events import CloudEvent, HandlerRegistry
from knative_events.service_manager import (
    BuildCompletion,
    ManagerProvider,
    ServiceRef,
    default_metrics,
)

BUILD_COMPLETED_TYPE: Final = f"{DEFAULTS.event_prefix}.build.completed"
SERVICE_DELETE_TYPE: Final = f"{DEFAULTS.event_prefix}.service.delete"

registry = HandlerRegistry()
provider = ManagerProvider(DEFAULTS)
default_metrics()  # registered now, so the app's /metrics serves them from the start


@registry.on(BUILD_COMPLETED_TYPE, data=BuildCompletion)
async def build_completed(event: CloudEvent, data: BuildCompletion) -> CloudEvent | None:
    manager = provider.for_event(event.source, image_uri=data.image_uri)
    name = manager.generate_service_name(data.third_party_id, data.parser_id)
    await manager.create_service(name, data)
    return None


@registry.on(SERVICE_DELETE_TYPE, data=ServiceRef)
async def service_delete(event: CloudEvent, data: ServiceRef) -> CloudEvent | None:
    manager = provider.for_event(event.source)
    name = manager.generate_service_name(data.third_party_id, data.parser_id)
    await manager.delete_service(name)
    return None
