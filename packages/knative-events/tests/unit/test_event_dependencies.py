"""The FastAPI dependency for ordinary routes that take a CloudEvent."""

from __future__ import annotations

from typing import Annotated

import httpx
import orjson
from fastapi import Body, FastAPI

from knative_events.app import ServiceApp
from knative_events.cloudevents.dependencies import (
    CloudEventDep,
    CloudEventsDep,
    problem_exception_handler,
)
from knative_events.cloudevents.errors import ProblemError
from knative_events.cloudevents.models import CloudEvent
from knative_events.cloudevents.serializer import to_batch, to_binary


def route_app() -> FastAPI:
    app = FastAPI()
    app.add_exception_handler(ProblemError, problem_exception_handler)

    @app.post("/orders")
    async def orders(event: CloudEventDep) -> dict[str, str]:
        return {"id": event.id, "type": event.type}

    @app.post("/many")
    async def many(events: CloudEventsDep) -> list[str]:
        return [event.id for event in events]

    return app


def client_for(app: FastAPI | ServiceApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_route_receives_the_parsed_event() -> None:
    headers, body = to_binary(CloudEvent(id="7", source="/s", type="com.example.x"))
    async with client_for(route_app()) as client:
        response = await client.post("/orders", headers=headers, content=body)
    assert response.json() == {"id": "7", "type": "com.example.x"}


async def test_a_route_can_take_a_batch() -> None:
    events = [CloudEvent(id=str(i), source="/s", type="t") for i in range(2)]
    headers, body = to_batch(events)
    async with client_for(route_app()) as client:
        batch = await client.post("/many", headers=headers, content=body)
        single = await client.post("/many", headers=to_binary(events[0])[0], content=b"")
    assert batch.json() == ["0", "1"]
    assert single.json() == ["0"]


async def test_errors_become_problem_details() -> None:
    async with client_for(route_app()) as client:
        response = await client.post("/orders", json={"not": "an event"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["attribute"] == "specversion"


async def test_the_body_limit_applies(app: ServiceApp, binary_headers: dict[str, str]) -> None:
    """Routes on the service's app read its MAX_BODY_BYTES (4096 in the tests)."""

    @app.api.post("/orders")
    async def orders(event: CloudEventDep) -> str:
        return event.id

    big = orjson.dumps({"x": "y" * 5000})
    async with client_for(app) as client:
        declared = await client.post("/orders", headers=binary_headers, content=big)

        async def stream() -> object:
            yield big

        streamed = await client.post("/orders", headers=binary_headers, content=stream())
    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert streamed.json()["type"] == "/problems/payload-too-large"


async def test_an_event_can_be_a_json_body_and_a_response_model() -> None:
    """As a pydantic type: a JSON body checked by the same rules, written back as JSON."""
    app = FastAPI()

    @app.post("/echo")
    async def echo(event: Annotated[CloudEvent, Body()]) -> CloudEvent:
        return event

    sent = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": {"a": 1}}
    async with client_for(app) as client:
        accepted = await client.post("/echo", json={**sent, "ext": "v"})
        refused = await client.post("/echo", json={**sent, "time": "yesterday"})
    assert accepted.status_code == 200
    assert accepted.json() == {**sent, "datacontenttype": "application/json", "ext": "v"}
    assert refused.status_code == 422
    assert "RFC 3339" in refused.json()["detail"][0]["msg"]
    body_schema = app.openapi()["paths"]["/echo"]["post"]["requestBody"]["content"]
    assert "specversion" in str(body_schema["application/json"]["schema"])
