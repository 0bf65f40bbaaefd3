"""Event handlers registered per CloudEvent ``type`` with a decorator.

    registry = HandlerRegistry()

    @registry.on("com.example.order.created", data=Order)
    async def order_created(event: CloudEvent, data: Order) -> CloudEvent | None: ...

With ``data=None`` (or omitted) the handler receives ``event.data`` as is: the JSON value
for JSON content, a string for text, ``bytes`` for opaque payloads. A model is applied
with ``model_validate`` once the event itself is valid; a mismatch is a 422, a non-JSON
content type for a model handler a 415. Registration fails loudly (TypeError/ValueError)
on a sync function or a type registered twice, at import time rather than per event.

``direct_only=True`` marks a handler that no Trigger delivers to: it is called directly (a
client POSTs to the service) or through a SinkBinding. It changes nothing at run time; the
manifest tooling reads it so ``validate`` does not warn that no Trigger reaches the type.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .errors import DataValidationError, UnsupportedContentTypeError
from .models import CloudEvent, DataKind, data_kind, loaded_base_model

if TYPE_CHECKING:
    from pydantic import BaseModel

# pydantic is never imported by this module: the code that passes a model has loaded it
# already (see models.loaded_base_model), and a service without models starts without it.
M = TypeVar("M", bound="BaseModel")

Reply = CloudEvent | None
RawHandler = Callable[[CloudEvent, Any], Awaitable[Reply]]
ModelHandler = Callable[[CloudEvent, M], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Registration:
    """One handler: the type it serves, the function, and the model of its data."""

    event_type: str
    handler: RawHandler
    model: type[BaseModel] | None
    direct_only: bool = False
    """Reached without a Trigger (called directly or via a SinkBinding)."""
    idempotent: bool | None = None
    """Run once per (source, id) while IDEMPOTENCY is on; None: the registry's default."""

    @property
    def name(self) -> str:
        """The handler's qualified name, for logs."""
        return getattr(self.handler, "__qualname__", repr(self.handler))

    def decode(self, event: CloudEvent) -> Any:
        """The value passed as the handler's ``data`` argument."""
        if self.model is None:
            return event.data if event.data_base64 is None else event.data_bytes
        if event.data_base64 is not None or data_kind(event.datacontenttype) is not DataKind.JSON:
            raise UnsupportedContentTypeError(
                f"the handler of {event.type!r} takes JSON data ({self.model.__name__}), "
                f"not {event.datacontenttype}",
                attribute="datacontenttype",
            )
        from pydantic import ValidationError  # noqa: PLC0415 - loaded with the model

        try:
            return self.model.model_validate(event.data)
        except ValidationError as exc:
            problems = [
                {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]}
                for err in exc.errors(include_url=False, include_input=False)
            ]
            raise DataValidationError(
                f"data does not match {self.model.__name__}: {problems[0]['msg']}"
                + (f" at {'.'.join(map(str, problems[0]['loc']))}" if problems[0]["loc"] else ""),
                attribute="data",
                extra={"errors": problems},
            ) from None


class HandlerRegistry:
    """Maps each CloudEvent type to exactly one async handler."""

    def __init__(self, *, idempotent: bool = False) -> None:
        self._registrations: dict[str, Registration] = {}
        self.idempotent = idempotent
        """The default of handlers registered without ``idempotent=`` (see ``idempotency``)."""

    @overload
    def on(
        self,
        event_type: str,
        data: None = None,
        *,
        direct_only: bool = False,
        idempotent: bool | None = None,
    ) -> Callable[[RawHandler], RawHandler]: ...

    @overload
    def on(
        self,
        event_type: str,
        data: type[M],
        *,
        direct_only: bool = False,
        idempotent: bool | None = None,
    ) -> Callable[[ModelHandler[M]], ModelHandler[M]]: ...

    def on(
        self,
        event_type: str,
        data: type[BaseModel] | None = None,
        *,
        direct_only: bool = False,
        idempotent: bool | None = None,
    ) -> Callable[[Any], Any]:
        """Register the decorated coroutine function as the handler of ``event_type``.

        ``direct_only=True``: no Trigger delivers this type (see the module docstring).
        ``idempotent=True``: a repeat of an event (same source and id) gets the first
        delivery's outcome without running the handler (when IDEMPOTENCY is on).
        """
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("event_type must be a non-empty string")
        if data is not None and not _is_model_class(data):
            raise TypeError(f"data must be a pydantic model class or None, not {data!r}")

        def register(handler: Any) -> Any:
            self.add(event_type, handler, data, direct_only=direct_only, idempotent=idempotent)
            return handler

        return register

    def add(
        self,
        event_type: str,
        handler: RawHandler,
        model: type[BaseModel] | None = None,
        *,
        direct_only: bool = False,
        idempotent: bool | None = None,
    ) -> None:
        """Register without the decorator syntax."""
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"the handler of {event_type!r} must be an async function")
        existing = self._registrations.get(event_type)
        if existing is not None:
            raise ValueError(f"{event_type!r} already has a handler: {existing.name}")
        self._registrations[event_type] = Registration(
            event_type,
            handler,
            model,
            direct_only=bool(direct_only),
            idempotent=None if idempotent is None else bool(idempotent),
        )

    def get(self, event_type: str) -> Registration | None:
        """The registration for ``event_type``, or None."""
        return self._registrations.get(event_type)

    @property
    def types(self) -> list[str]:
        """The registered event types, sorted."""
        return sorted(self._registrations)

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._registrations

    def __iter__(self) -> Iterator[Registration]:
        return iter(list(self._registrations.values()))

    def __len__(self) -> int:
        return len(self._registrations)


def _is_model_class(value: object) -> bool:
    """Whether ``value`` is a pydantic model class (without importing pydantic)."""
    base = loaded_base_model()
    return base is not None and isinstance(value, type) and issubclass(value, base)
