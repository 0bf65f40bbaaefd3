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

The registry is also the service's event contract, read by ``knative-manifests contracts``
(Triggers, JSON Schemas, EventTypes, AsyncAPI) so that nothing is written twice:

* ``attributes={"source": "/orders"}`` adds exact-match attributes to the handler's
  Trigger filter besides ``type`` (nothing changes at run time: the broker filters);
* ``registry.emits("com.example.order.accepted", data=OrderAccepted)`` declares a type the
  service sends (a reply or through the emitter), so its EventType and schema exist too.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
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
    attributes: tuple[tuple[str, str], ...] = ()
    """Exact-match Trigger filter attributes besides ``type`` (sorted name, value pairs)."""

    @property
    def description(self) -> str:
        """The first line of the handler's docstring: what the contract says of the type."""
        doc = inspect.getdoc(self.handler) or ""
        return doc.strip().partition("\n")[0].strip()

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


@dataclass(frozen=True, slots=True)
class Emitted:
    """A type the service sends: declared for its contract, never dispatched."""

    event_type: str
    model: type[BaseModel] | None = None
    description: str = ""


_ATTRIBUTE_NAME = re.compile(r"[a-z0-9]{1,20}")


def _filter_attributes(
    event_type: str, attributes: Mapping[str, str] | None
) -> tuple[tuple[str, str], ...]:
    """Checked Trigger filter attributes: CloudEvents attribute names, non-empty strings."""
    if not attributes:
        return ()
    if not isinstance(attributes, Mapping):
        raise TypeError(f"attributes of {event_type!r} must be a mapping of name to value")
    for name, value in attributes.items():
        if not isinstance(name, str) or not _ATTRIBUTE_NAME.fullmatch(name):
            raise ValueError(
                f"filter attribute {name!r} of {event_type!r} is no CloudEvents attribute name "
                "(1 to 20 lowercase letters or digits)"
            )
        if name == "type":
            raise ValueError(f"the handler of {event_type!r} filters on type already; drop it")
        if not isinstance(value, str) or not value:
            raise ValueError(
                f"filter attribute {name!r} of {event_type!r} needs a non-empty string"
            )
    return tuple(sorted(attributes.items()))


class HandlerRegistry:
    """Maps each CloudEvent type to exactly one async handler."""

    def __init__(self, *, idempotent: bool = False) -> None:
        self._registrations: dict[str, Registration] = {}
        self._emitted: dict[str, Emitted] = {}
        self.idempotent = idempotent
        """The default of handlers registered without ``idempotent=`` (see ``idempotency``)."""

    @overload
    def on(
        self,
        event_type: str,
        data: None = None,
        *,
        direct_only: bool = False,
        attributes: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Callable[[RawHandler], RawHandler]: ...

    @overload
    def on(
        self,
        event_type: str,
        data: type[M],
        *,
        direct_only: bool = False,
        attributes: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Callable[[ModelHandler[M]], ModelHandler[M]]: ...

    def on(
        self,
        event_type: str,
        data: type[BaseModel] | None = None,
        *,
        direct_only: bool = False,
        attributes: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Callable[[Any], Any]:
        """Register the decorated coroutine function as the handler of ``event_type``.

        ``direct_only=True``: no Trigger delivers this type; ``attributes``: extra exact
        Trigger filters (see the module docstring).
        ``idempotent=True``: a repeat of an event (same source and id) gets the first
        delivery's outcome without running the handler (when IDEMPOTENCY is on).
        """
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("event_type must be a non-empty string")
        if data is not None and not _is_model_class(data):
            raise TypeError(f"data must be a pydantic model class or None, not {data!r}")

        checked = _filter_attributes(event_type, attributes)

        def register(handler: Any) -> Any:
            self.add(
                event_type,
                handler,
                data,
                direct_only=direct_only,
                attributes=dict(checked),
                idempotent=idempotent,
            )
            return handler

        return register

    def add(
        self,
        event_type: str,
        handler: RawHandler,
        model: type[BaseModel] | None = None,
        *,
        direct_only: bool = False,
        attributes: Mapping[str, str] | None = None,
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
            attributes=_filter_attributes(event_type, attributes),
            idempotent=None if idempotent is None else bool(idempotent),
        )

    def emits(
        self, event_type: str, data: type[BaseModel] | None = None, *, description: str = ""
    ) -> None:
        """Declare that the service sends ``event_type`` (data ``data``), for its contract.

        Nothing is dispatched on it; ``knative-manifests contracts`` writes its JSON Schema
        and EventType. Declaring a type twice is an error, as registering a handler is.
        """
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("event_type must be a non-empty string")
        if data is not None and not _is_model_class(data):
            raise TypeError(f"data must be a pydantic model class or None, not {data!r}")
        if event_type in self._emitted:
            raise ValueError(f"{event_type!r} is declared as emitted already")
        self._emitted[event_type] = Emitted(event_type, data, description)

    @property
    def emitted(self) -> list[Emitted]:
        """The declared emitted types, sorted by type."""
        return [self._emitted[name] for name in sorted(self._emitted)]

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
