"""The emitter: binary-mode POSTs, bounded retries on 5xx and connection errors, none on 4xx."""

from __future__ import annotations

import httpx
import pytest

from knative_events.cloudevents.models import CloudEvent
from knative_events.emitter import EmitError, EventEmitter
from knative_events.settings import Settings

EVENT = CloudEvent(id="out-1", source="/svc", type="com.example.out", data={"n": 1})


def emitter_with(responses: list[int | Exception], retries: int = 2):  # type: ignore[no-untyped-def]
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        outcome = responses.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return httpx.Response(outcome)

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    emitter = EventEmitter("http://sink.test/", retries=retries, backoff_seconds=0, client=client)
    return emitter, seen


async def test_posts_the_event_in_binary_mode() -> None:
    emitter, seen = emitter_with([202])
    response = await emitter.emit(EVENT)
    assert response.status_code == 202
    request = seen[0]
    assert request.method == "POST"
    assert request.headers["ce-id"] == "out-1"
    assert request.headers["ce-type"] == "com.example.out"
    assert request.content == b'{"n":1}'


async def test_retries_5xx_and_connection_errors_then_succeeds() -> None:
    emitter, seen = emitter_with([503, httpx.ConnectError("refused"), 200])
    assert (await emitter.emit(EVENT)).status_code == 200
    assert len(seen) == 3


async def test_never_retries_4xx() -> None:
    emitter, seen = emitter_with([400, 200])
    with pytest.raises(EmitError) as caught:
        await emitter.emit(EVENT)
    assert (caught.value.status, caught.value.attempts, len(seen)) == (400, 1, 1)


async def test_gives_up_after_the_retries() -> None:
    emitter, seen = emitter_with([500, 500, 500, 200], retries=2)
    with pytest.raises(EmitError) as caught:
        await emitter.emit(EVENT)
    assert (caught.value.status, caught.value.attempts, len(seen)) == (500, 3, 3)


async def test_connection_errors_exhaust_the_retries() -> None:
    emitter, _ = emitter_with([httpx.ConnectError("down")] * 2, retries=1)
    with pytest.raises(EmitError, match="could not deliver"):
        await emitter.emit(EVENT)


def test_backoff_grows_and_is_capped() -> None:
    emitter = EventEmitter("http://sink.test/", backoff_seconds=0.5)
    assert [emitter._delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 5.0]


async def test_targets_come_from_settings() -> None:
    async with EventEmitter.from_settings(Settings(k_sink="http://sink/")) as emitter:
        assert emitter.target == "http://sink/"
    async with EventEmitter.from_settings(Settings(broker_url="http://broker/")) as emitter:
        assert emitter.target == "http://broker/"
    with pytest.raises(ValueError, match="K_SINK"):
        EventEmitter.from_settings(Settings(environ={}))
    with pytest.raises(ValueError, match="http"):
        EventEmitter("sink.test")
