"""Idempotent handlers under uvicorn on 127.0.0.1, with the memory store and a real Redis.

The proofs of issue 32: 100 concurrent deliveries of one event run its handler once, a
repeat gets the same status and reply, TTL expiry runs it again, a failing handler
releases the key, and with Redis killed mid-load nothing runs twice and the statuses that
come back are ones Knative retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn

from knative_events.app import ServiceApp, create_app
from knative_events.cloudevents.models import CloudEvent
from knative_events.cloudevents.registry import HandlerRegistry
from knative_events.settings import Settings
from knative_events.testing import wait_until_ready
from redis_server import RedisServer, free_port, start_redis

pytestmark = pytest.mark.integration

RETRYABLE = {409, 429, 503}  # besides 5xx, what the Knative data-plane contract retries


@dataclass
class Runs:
    """How often each handler ran, per event id."""

    counts: Counter[str] = field(default_factory=Counter)
    fail_first: set[str] = field(default_factory=set)


def build_registry(runs: Runs) -> HandlerRegistry:
    registry = HandlerRegistry(idempotent=True)

    @registry.on("test.once")
    async def once(event: CloudEvent, data: object) -> None:
        runs.counts[event.id] += 1
        await asyncio.sleep(0.2)  # long enough for the concurrent repeats to overlap it

    @registry.on("test.reply")
    async def reply(event: CloudEvent, data: object) -> CloudEvent:
        runs.counts[event.id] += 1
        return CloudEvent(id=f"reply-{event.id}", source="/r", type="test.reply.done", data=data)

    @registry.on("test.flaky")
    async def flaky(event: CloudEvent, data: object) -> None:
        runs.counts[event.id] += 1
        if event.id in runs.fail_first:
            runs.fail_first.discard(event.id)
            raise RuntimeError("fails the first time")

    @registry.on("test.every", idempotent=False)
    async def every(event: CloudEvent, data: object) -> None:
        runs.counts[event.id] += 1

    @registry.on("test.load")
    async def load(event: CloudEvent, data: object) -> None:
        runs.counts[event.id] += 1
        await asyncio.sleep(0.005)

    return registry


@dataclass
class Service:
    url: str
    app: ServiceApp
    runs: Runs
    redis: RedisServer | None


@contextlib.contextmanager
def serve(store: str, ttl_seconds: int = 3600) -> Iterator[Service]:
    """The app with ``store`` under uvicorn (and its own redis-server for redis)."""
    redis = start_redis() if store == "redis" else None
    runs = Runs()
    settings = Settings(
        environ={},
        idempotency=store,
        idempotency_ttl_seconds=ttl_seconds,
        redis_url=redis.url if redis else None,
        max_concurrent_handlers=500,
        handler_timeout_seconds=5.0,
        log_level="WARNING",
        k_service="idem-test",
    )
    app = create_app(settings, registry=build_registry(runs))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, timeout=20)
        yield Service(url, app, runs, redis)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        if redis is not None:
            redis.kill()


@pytest.fixture(params=["memory", "redis"])
def service(request: pytest.FixtureRequest) -> Iterator[Service]:
    with serve(request.param) as running:
        yield running


def headers(event_type: str, event_id: str, source: str = "/tests") -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": source,
        "ce-type": event_type,
        "content-type": "application/json",
    }


async def deliver_all(url: str, requests: list[dict[str, str]]) -> list[int]:
    limits = httpx.Limits(max_connections=len(requests))
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
        responses = await asyncio.gather(
            *(client.post("/", headers=h, content=b'{"n": 1}') for h in requests)
        )
    return [response.status_code for response in responses]


def duplicates_counted(url: str, event_type: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("cloudevents_received_total{") and (
            f'type="{event_type}"' in line and 'outcome="duplicate"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_100_concurrent_deliveries_run_the_handler_once(service: Service) -> None:
    statuses = asyncio.run(deliver_all(service.url, [headers("test.once", "e-1")] * 100))
    assert service.runs.counts["e-1"] == 1
    counted = Counter(statuses)
    assert set(counted) <= {202, 409}, counted  # 409: "processing in progress", retried
    assert counted[202] >= 1
    # The broker retries each 409: every retry now gets the first delivery's outcome.
    retried = asyncio.run(deliver_all(service.url, [headers("test.once", "e-1")] * counted[409]))
    assert set(retried) <= {202}
    assert service.runs.counts["e-1"] == 1
    assert duplicates_counted(service.url, "test.once") >= counted[409]
    print(f"100 concurrent: statuses {dict(counted)}, retries {Counter(retried)}, runs 1")


def test_a_repeat_gets_the_same_status_and_reply(service: Service) -> None:
    with httpx.Client(base_url=service.url, timeout=10) as client:
        first = client.post("/", headers=headers("test.reply", "r-1"), content=b'{"a": 1}')
        second = client.post("/", headers=headers("test.reply", "r-1"), content=b'{"a": 1}')
    assert first.status_code == second.status_code == 200
    assert first.content == second.content == b'{"a":1}'
    for name in ("ce-id", "ce-source", "ce-type", "content-type"):
        assert first.headers[name] == second.headers[name]
    assert service.runs.counts["r-1"] == 1
    assert duplicates_counted(service.url, "test.reply") == 1


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_ttl_expiry_runs_the_handler_again(store: str) -> None:
    """The only test with a short TTL: elsewhere a slow machine must not expire outcomes."""
    with (
        serve(store, ttl_seconds=2) as service,
        httpx.Client(base_url=service.url, timeout=10) as client,
    ):
        assert client.post("/", headers=headers("test.every", "x"), content=b"1").status_code == 202
        for _ in range(2):
            response = client.post("/", headers=headers("test.reply", "t-1"), content=b"1")
            assert response.status_code == 200
        assert service.runs.counts["t-1"] == 1
        time.sleep(2.2)  # the TTL is 2 s
        assert (
            client.post("/", headers=headers("test.reply", "t-1"), content=b"1").status_code == 200
        )
    assert service.runs.counts["t-1"] == 2


def test_a_failing_handler_releases_the_key(service: Service) -> None:
    service.runs.fail_first.add("f-1")
    with httpx.Client(base_url=service.url, timeout=10) as client:
        statuses = [
            client.post("/", headers=headers("test.flaky", "f-1"), content=b"1").status_code
            for _ in range(3)
        ]
    assert statuses == [500, 202, 202]
    assert service.runs.counts["f-1"] == 2  # failed, then ran once more, then a duplicate


def test_the_key_is_source_and_id(service: Service) -> None:
    requests = [headers("test.reply", "same", source) for source in ("/a", "/b", "/a")]
    with httpx.Client(base_url=service.url, timeout=10) as client:
        statuses = [client.post("/", headers=h, content=b"1").status_code for h in requests]
    assert statuses == [200, 200, 200]
    assert service.runs.counts["same"] == 2  # /a and /b; the second /a is a duplicate


def test_a_handler_not_opted_in_runs_every_time(service: Service) -> None:
    with httpx.Client(base_url=service.url, timeout=10) as client:
        for _ in range(3):
            client.post("/", headers=headers("test.every", "n-1"), content=b"1")
    assert service.runs.counts["n-1"] == 3


async def load_with_kill(url: str, redis: RedisServer) -> list[tuple[str, int]]:
    """300 events, each delivered twice at once; redis is killed once 150 answers are in."""
    results: list[tuple[str, int]] = []
    killed = asyncio.Event()
    limits = httpx.Limits(max_connections=40)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
        semaphore = asyncio.Semaphore(40)

        async def one(event_id: str) -> None:
            async with semaphore:
                response = await client.post(
                    "/", headers=headers("test.load", event_id), content=b"1"
                )
            results.append((event_id, response.status_code))
            if len(results) == 150:
                redis.kill()  # mid-load: 40 requests are in flight around this moment
                killed.set()

        await asyncio.gather(*(one(f"k-{n}") for n in range(300) for _ in range(2)))
        assert killed.is_set()
        # The broker's retries while Redis stays down: refused, never run again.
        await asyncio.gather(*(one(f"k-{n}") for n in range(300)))
    return results


def test_redis_killed_mid_load_runs_nothing_twice_and_answers_retryable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with serve("redis") as service, caplog.at_level(logging.ERROR):
        assert service.redis is not None
        results = asyncio.run(load_with_kill(service.url, service.redis))
        runs = service.runs.counts
    assert max(runs.values()) == 1, "an event ran twice"
    statuses = Counter(status for _, status in results)
    assert set(statuses) <= {202} | RETRYABLE, statuses
    assert statuses[503] >= 300  # at least every retry made after the kill
    assert statuses[202] >= 100
    ran = {event_id for event_id, status in results if status == 202}
    assert ran <= set(runs)  # every 202 is backed by exactly one run
    assert any("idempotency store unavailable" in r.getMessage() for r in caplog.records)
    print(f"redis killed mid-load: statuses {dict(statuses)}, handlers run {sum(runs.values())}")
