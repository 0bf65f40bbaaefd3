"""The fixture service's handler registry, shaped like the runtime's (duck-typed).

Two types arrive through Triggers; ``com.acme.order.audit`` is called directly, so it is
registered ``direct_only`` and no Trigger routes it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Registration:
    event_type: str
    direct_only: bool = False


class Registry:
    def __init__(self, *registrations: Registration) -> None:
        self._registrations = {r.event_type: r for r in registrations}

    @property
    def types(self) -> list[str]:
        return sorted(self._registrations)

    def get(self, event_type: str) -> Registration | None:
        return self._registrations.get(event_type)


registry = Registry(
    Registration("com.acme.order.placed"),
    Registration("com.acme.order.cancelled"),
    Registration("com.acme.order.audit", direct_only=True),
)
