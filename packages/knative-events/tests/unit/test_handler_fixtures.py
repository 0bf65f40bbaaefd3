"""The pytest plugin's fixtures and the event factory: valid events from the handlers' models."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Literal
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, create_model

from knative_events import CloudEvent, HandlerRegistry, ServiceApp, create_app
from knative_events.examples import ExampleError, example_for_model
from knative_events.settings import Settings
from knative_events.testing import EventClient, EventFactory

pytest_plugins = ["pytester"]


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Line(BaseModel):
    sku: Annotated[str, Field(min_length=12, max_length=20)]
    quantity: Annotated[int, Field(gt=0, le=5)]


class Order(BaseModel):
    order_id: UUID
    placed: datetime
    email: Annotated[str, Field(examples=["buyer@example.com"])]
    colour: Colour
    kind: Literal["retail"]
    lines: Annotated[list[Line], Field(min_length=2)]
    note: str | None = None
    price: Annotated[float, Field(ge=10.5, multiple_of=0.5)]


class Accepted(BaseModel):
    order_id: UUID


registry = HandlerRegistry()


@registry.on("com.example.order.created", data=Order, attributes={"source": "/shop"})
async def created(event: CloudEvent, data: Order) -> CloudEvent | None:
    """An order was placed."""
    return CloudEvent(
        id="r-1",
        source="/orders",
        type="com.example.order.accepted",
        data={"order_id": str(data.order_id)},
    )


@registry.on("com.example.raw")
async def raw(event: CloudEvent, data: object) -> CloudEvent | None:
    return None


registry.emits("com.example.order.accepted", data=Accepted, description="An order was accepted.")


@pytest.fixture
def knative_app() -> ServiceApp:
    return create_app(Settings(environ={}, log_level="WARNING"), registry=registry)


async def test_the_factory_builds_an_event_the_model_handler_accepts(
    event_client: EventClient, event_factory: EventFactory
) -> None:
    event = event_factory("com.example.order.created")
    assert event.source == "/shop"  # the Trigger's extra filter attribute
    reply = (await event_client.send_event(event)).expect_reply("com.example.order.accepted")
    assert reply.data == {"order_id": event.data["order_id"]}
    (await event_client.send_event(event, mode="structured")).expect_reply()


async def test_expectations_fail_with_the_answer(
    event_client: EventClient, event_factory: EventFactory
) -> None:
    bad = event_factory("com.example.order.created", data={"order_id": "no"})
    result = await event_client.send_event(bad)
    problem = result.expect_problem(422)
    assert problem["errors"]
    with pytest.raises(AssertionError, match="expected a 2xx, got 422"):
        result.expect_accepted()
    unknown = await event_client.send("com.example.unknown", {})
    unknown.expect_problem(400, "/problems/unhandled-event-type")
    with pytest.raises(AssertionError, match="expected problem /problems/other"):
        unknown.expect_problem(400, "/problems/other")
    with pytest.raises(AssertionError, match="expected a reply event, got none"):
        (await event_client.send_event(event_factory("com.example.raw"))).expect_reply()


async def test_a_batch_answers_with_every_reply(
    event_client: EventClient, event_factory: EventFactory
) -> None:
    events = [event_factory("com.example.order.created") for _ in range(2)]
    result = (await event_client.send_batch(events)).expect_accepted()
    assert [r.type for r in result.replies] == ["com.example.order.accepted"] * 2


def test_the_factory_refuses_an_unknown_type_and_knows_emitted_ones(
    event_factory: EventFactory,
) -> None:
    with pytest.raises(KeyError, match="has no handler and is not declared emitted"):
        event_factory("com.example.nobody")
    assert set(event_factory.data("com.example.order.accepted")) == {"order_id"}
    assert event_factory("com.example.raw").data == {}


def test_emitted_types_and_filter_attributes_are_checked() -> None:
    reg = HandlerRegistry()
    reg.emits("a.b")
    with pytest.raises(ValueError, match="declared as emitted already"):
        reg.emits("a.b")
    with pytest.raises(ValueError, match="no CloudEvents attribute name"):
        reg.on("a.c", attributes={"Source": "x"})
    with pytest.raises(ValueError, match="filters on type already"):
        reg.on("a.c", attributes={"type": "x"})
    with pytest.raises(ValueError, match="non-empty string"):
        reg.on("a.c", attributes={"source": ""})


def test_a_pattern_without_an_example_is_reported() -> None:
    model = create_model("Coded", code=(Annotated[str, Field(pattern=r"[A-Z]{3}")], ...))
    with pytest.raises(ExampleError, match="pattern"):
        example_for_model(model)


_FIELD_TYPES = st.sampled_from(
    [
        int,
        float,
        str,
        bool,
        UUID,
        datetime,
        Colour,
        list[int],
        dict[str, int],
        Line,
        int | None,
        Annotated[int, Field(ge=-7, lt=-2)],
        Annotated[str, Field(min_length=30)],
        Annotated[list[str], Field(min_length=3)],
        Annotated[float, Field(gt=0, lt=1)],
        Literal["a", "b"],
    ]
)


@settings(max_examples=120, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"[a-z]{1,8}", fullmatch=True), _FIELD_TYPES, min_size=1, max_size=6
    )
)
def test_any_model_of_these_fields_gets_an_example_it_accepts(fields: dict[str, object]) -> None:
    model = create_model("Generated", **{name: (kind, ...) for name, kind in fields.items()})  # type: ignore[call-overload]
    value = example_for_model(model)
    model.model_validate(value)
    assert set(value) == set(fields)


def test_without_knative_app_the_plugin_says_what_to_define(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("async def test_x(event_client):\n    pass\n")
    result = pytester.runpytest(
        "-p",
        "asyncio",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    result.stdout.fnmatch_lines(["*define a `knative_app` fixture in conftest.py*"])
