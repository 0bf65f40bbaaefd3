"""HandlerRegistry: the decorator contract other modules rely on."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from knative_events.cloudevents.errors import (
    DataValidationError,
    UnsupportedContentTypeError,
)
from knative_events.cloudevents.models import CloudEvent
from knative_events.cloudevents.registry import HandlerRegistry


class Thing(BaseModel):
    name: str


def test_on_registers_and_returns_the_function() -> None:
    registry = HandlerRegistry()

    async def handler(event: CloudEvent, data: Thing) -> CloudEvent | None:
        return None

    assert registry.on("com.example.thing", data=Thing)(handler) is handler
    registration = registry.get("com.example.thing")
    assert registration is not None
    assert registration.handler is handler
    assert registration.model is Thing
    assert "com.example.thing" in registry
    assert registry.types == ["com.example.thing"]
    assert len(registry) == 1


def test_a_type_takes_one_handler() -> None:
    registry = HandlerRegistry()

    @registry.on("t")
    async def first(event: CloudEvent, data: object) -> None:
        return None

    with pytest.raises(ValueError, match="already has a handler"):

        @registry.on("t")
        async def second(event: CloudEvent, data: object) -> None:
            return None


def test_handlers_must_be_async() -> None:
    registry = HandlerRegistry()

    def sync(event: CloudEvent, data: object) -> None:
        return None

    with pytest.raises(TypeError, match="async"):
        registry.on("t")(sync)  # type: ignore[arg-type]


def test_data_must_be_a_model_class() -> None:
    with pytest.raises(TypeError, match="pydantic model"):
        HandlerRegistry().on("t", data=dict)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="non-empty"):
        HandlerRegistry().on("")


def _registration(model: type[BaseModel] | None):  # type: ignore[no-untyped-def]
    registry = HandlerRegistry()

    async def handler(event: CloudEvent, data: object) -> None:
        return None

    registry.add("t", handler, model)
    registration = registry.get("t")
    assert registration is not None
    return registration


def test_decode_without_a_model_passes_the_raw_value() -> None:
    registration = _registration(None)
    assert registration.decode(CloudEvent(id="1", source="/s", type="t", data=[1])) == [1]
    blob = CloudEvent(id="1", source="/s", type="t", datacontenttype="a/b", data=b"\x00")
    assert registration.decode(blob) == b"\x00"


def test_decode_with_a_model_validates() -> None:
    registration = _registration(Thing)
    event = CloudEvent(id="1", source="/s", type="t", data={"name": "x"})
    assert registration.decode(event) == Thing(name="x")
    with pytest.raises(DataValidationError) as caught:
        registration.decode(CloudEvent(id="1", source="/s", type="t", data={"name": 5}))
    assert caught.value.status == 422
    assert caught.value.extra["errors"][0]["loc"] == ["name"]


def test_a_model_handler_needs_json_data() -> None:
    registration = _registration(Thing)
    event = CloudEvent(id="1", source="/s", type="t", datacontenttype="text/plain", data="x")
    with pytest.raises(UnsupportedContentTypeError) as caught:
        registration.decode(event)
    assert caught.value.status == 415


def test_direct_only_is_recorded_for_the_tooling() -> None:
    registry = HandlerRegistry()

    @registry.on("com.example.direct", direct_only=True)
    async def direct(event: CloudEvent, data: object) -> CloudEvent | None:
        return None

    @registry.on("com.example.modelled", data=Thing, direct_only=True)
    async def modelled(event: CloudEvent, data: Thing) -> CloudEvent | None:
        return None

    @registry.on("com.example.triggered")
    async def triggered(event: CloudEvent, data: object) -> CloudEvent | None:
        return None

    async def added(event: CloudEvent, data: object) -> CloudEvent | None:
        return None

    registry.add("com.example.added", added, direct_only=True)
    registry.add("com.example.added.plain", added)

    flags = {registration.event_type: registration.direct_only for registration in registry}
    assert flags == {
        "com.example.direct": True,
        "com.example.modelled": True,
        "com.example.triggered": False,
        "com.example.added": True,
        "com.example.added.plain": False,
    }
    modelled_registration = registry.get("com.example.modelled")
    assert modelled_registration is not None
    assert modelled_registration.model is Thing
    assert registry.types == sorted(flags)


async def test_a_direct_only_handler_is_dispatched_like_any_other() -> None:
    from knative_events import create_app
    from knative_events.settings import Settings
    from knative_events.testing import EventClient

    registry = HandlerRegistry()
    seen: list[str] = []

    @registry.on("com.example.direct", direct_only=True)
    async def direct(event: CloudEvent, data: object) -> CloudEvent | None:
        seen.append(event.id)
        return None

    async with EventClient(create_app(Settings(environ={}), registry=registry)) as client:
        result = await client.send("com.example.direct", {"a": 1}, id="direct-1")
    assert result.status == 202
    assert seen == ["direct-1"]
