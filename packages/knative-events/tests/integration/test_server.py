"""The real app under uvicorn on 127.0.0.1: every content mode, every refusal, replies."""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

import httpx
import orjson
import pytest

from knative_events.cloudevents import (
    CloudEvent,
    from_http,
    from_http_batch,
    to_batch,
    to_structured,
)

pytestmark = pytest.mark.integration

HEADERS = {
    "ce-specversion": "1.0",
    "ce-id": "evt-1",
    "ce-source": "/tests",
    "ce-type": "test.accept",
    "content-type": "application/json",
}


@pytest.fixture(scope="module")
def http(live_server: Any) -> Any:
    with httpx.Client(base_url=live_server.url, timeout=10) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, slug: str, attribute: str | None) -> None:
    """An RFC 9457 problem with the expected status, type and attribute."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == f"/problems/{slug}"
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    assert problem["attribute"] == attribute


def test_binary_event_is_accepted(http: httpx.Client) -> None:
    response = http.post("/", headers=HEADERS, content=b'{"n": 1}')
    assert (response.status_code, response.content) == (202, b"")


def test_structured_event_is_accepted(http: httpx.Client) -> None:
    headers, body = to_structured(CloudEvent(id="s-1", source="/tests", type="test.accept"))
    assert http.post("/", headers=headers, content=body).status_code == 202


def test_a_reply_comes_back_in_binary_mode(http: httpx.Client) -> None:
    headers = {**HEADERS, "ce-type": "test.echo", "ce-subject": "caf%C3%A9"}
    response = http.post("/", headers=headers, content=b'{"n": 1}')
    assert response.status_code == 200
    assert response.headers["ce-specversion"] == "1.0"
    reply = from_http(response.headers, response.content)
    assert (reply.id, reply.type, reply.subject) == ("reply-evt-1", "test.echo.reply", "caf\u00e9")
    assert reply.data == {"echo": {"n": 1}}


def test_a_batch_is_handled_in_order_and_replies_come_back_as_a_batch(http: httpx.Client) -> None:
    events = [
        CloudEvent(id="b-1", source="/tests", type="test.accept"),
        CloudEvent(id="b-2", source="/tests", type="test.echo", data=2),
    ]
    response = http.post("/", headers=to_batch(events)[0], content=to_batch(events)[1])
    assert response.status_code == 200
    replies = from_http_batch(response.headers, response.content)
    assert [reply.id for reply in replies] == ["reply-b-2"]
    only_accept = to_batch(events[:1])
    assert http.post("/", headers=only_accept[0], content=only_accept[1]).status_code == 202


def test_a_model_handler_gets_validated_data(http: httpx.Client) -> None:
    headers = {**HEADERS, "ce-type": "test.order"}
    ok = http.post("/", headers=headers, json={"order_id": "o-1", "quantity": 2})
    assert ok.status_code == 202
    bad = http.post("/", headers=headers, json={"order_id": "o-1", "quantity": "many"})
    assert_problem(bad, 422, "invalid-data", "data")
    assert bad.json()["errors"][0]["loc"] == ["quantity"]
    text = http.post("/", headers={**headers, "content-type": "text/plain"}, content=b"hi")
    assert_problem(text, 415, "unsupported-content-type", "datacontenttype")


@pytest.mark.parametrize(
    ("change", "attribute"),
    [
        ({"ce-id": None}, "id"),
        ({"ce-source": None}, "source"),
        ({"ce-type": None}, "type"),
        ({"ce-specversion": None}, "specversion"),
        ({"ce-specversion": "0.3"}, "specversion"),
        ({"ce-source": "not a uri"}, "source"),
        ({"ce-time": "yesterday"}, "time"),
        ({"ce-Bad_Ext": "x"}, "bad_ext"),
    ],
)
def test_missing_or_invalid_attributes_are_400(
    http: httpx.Client, change: dict[str, str | None], attribute: str
) -> None:
    headers = {k: v for k, v in {**HEADERS, **change}.items() if v is not None}
    assert_problem(
        http.post("/", headers=headers, content=b"{}"), 400, "invalid-cloudevent", attribute
    )


def test_bad_json_is_400(http: httpx.Client) -> None:
    assert_problem(
        http.post("/", headers=HEADERS, content=b"{nope"), 400, "malformed-cloudevent", "data"
    )
    structured = {"content-type": "application/cloudevents+json"}
    response = http.post("/", headers=structured, content=b"[not an object]")
    assert_problem(response, 400, "malformed-cloudevent", None)


def test_an_unsupported_event_format_is_415(http: httpx.Client) -> None:
    response = http.post(
        "/", headers={"content-type": "application/cloudevents+xml"}, content=b"<e/>"
    )
    assert_problem(response, 415, "unsupported-content-type", "datacontenttype")


def test_an_unhandled_type_is_400(http: httpx.Client) -> None:
    response = http.post("/", headers={**HEADERS, "ce-type": "test.nobody"}, content=b"{}")
    assert_problem(response, 400, "unhandled-event-type", "type")


def test_an_oversized_body_is_413_declared_or_streamed(http: httpx.Client) -> None:
    big = orjson.dumps({"x": "y" * 10_000})
    assert_problem(http.post("/", headers=HEADERS, content=big), 413, "payload-too-large", None)

    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 1000

    streamed = http.post("/", headers=HEADERS, content=chunks())
    assert "content-length" not in streamed.request.headers
    assert_problem(streamed, 413, "payload-too-large", None)
    assert http.post("/", headers=HEADERS, content=b"{}").status_code == 202


def test_wrong_method_is_405(http: httpx.Client) -> None:
    response = http.get("/")
    assert_problem(response, 405, "method-not-allowed", None)
    assert response.headers["allow"] == "POST, OPTIONS"


def test_a_raising_handler_is_500_and_the_server_keeps_serving(http: httpx.Client) -> None:
    response = http.post("/", headers={**HEADERS, "ce-type": "test.fail"}, content=b"{}")
    assert_problem(response, 500, "handler-failed", None)
    assert "on purpose" not in response.text  # no internals leak into the problem
    assert http.post("/", headers=HEADERS, content=b"{}").status_code == 202


def test_a_slow_handler_is_504(http: httpx.Client) -> None:
    response = http.post("/", headers={**HEADERS, "ce-type": "test.slow"}, content=b"{}")
    assert_problem(response, 504, "handler-timeout", None)


def test_overload_is_503_with_retry_after_and_other_events_still_pass(
    http: httpx.Client, live_server: Any
) -> None:
    """Two blocked handlers fill MAX_CONCURRENT_HANDLERS; a third event is refused at once."""
    gate = live_server.gate
    block = {**HEADERS, "ce-type": "test.block"}
    with (
        concurrent.futures.ThreadPoolExecutor(2) as pool,
        httpx.Client(base_url=live_server.url, timeout=10) as other,
    ):
        held = [pool.submit(other.post, "/", headers=block, content=b"{}") for _ in range(2)]
        assert gate.entered.wait(5)
        deadline = time.monotonic() + 5
        while live_server.app.event_endpoint.busy < 2:
            assert time.monotonic() < deadline, "the blocking handlers never both started"
            time.sleep(0.01)
        refused = http.post("/", headers=HEADERS, content=b"{}")
        assert_problem(refused, 503, "overloaded", None)
        assert refused.headers["retry-after"] == "3"
        assert http.get("/health/ready").status_code == 200
        gate.release.set()
        assert [future.result().status_code for future in held] == [202, 202]
    assert http.post("/", headers=HEADERS, content=b"{}").status_code == 202


def test_metrics_after_traffic(http: httpx.Client) -> None:
    http.post("/", headers=HEADERS, content=b"{}")
    text = http.get("/metrics").text
    assert 'cloudevents_received_total{outcome="accepted",type="test.accept"}' in text
    assert "cloudevents_handler_duration_seconds_bucket" in text
