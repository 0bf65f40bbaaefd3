"""HandlerRegistry: the decorator contract other modules rely on."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from {{ package_name }}.cloudevents.errors import (
    DataValidationError,
    UnsupportedContentTypeError,
)
from {{ package_name }}.cloudevents.models import CloudEvent
from {{ package_name }}.cloudevents.registry import HandlerRegistry


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
