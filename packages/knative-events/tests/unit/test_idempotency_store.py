"""The memory store's bound and TTL, keys, the registry flag, and the settings it reads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from knative_events.cloudevents.models import CloudEvent
from knative_events.cloudevents.registry import HandlerRegistry
from knative_events.idempotency import CLAIMED, IN_FLIGHT, Done, MemoryStore
from knative_events.idempotency.memory import memory_key
from knative_events.idempotency.redis_store import decode_outcome, encode_outcome, redis_key
from knative_events.settings import Settings, SettingsError


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_claim_in_flight_done_then_expired() -> None:
    clock = Clock()
    store = MemoryStore(ttl_seconds=10, max_keys=5, clock=clock)
    assert await store.claim("/s", "1") is CLAIMED
    assert await store.claim("/s", "1") is IN_FLIGHT
    reply = CloudEvent(id="r", source="/r", type="r")
    await store.complete("/s", "1", reply)
    done = await store.claim("/s", "1")
    assert isinstance(done, Done)
    assert done.reply == reply
    clock.now = 10.0
    assert await store.claim("/s", "1") is CLAIMED  # expired: runs again


async def test_released_keys_can_be_claimed_again() -> None:
    store = MemoryStore(ttl_seconds=10, max_keys=5)
    assert await store.claim("/s", "1") is CLAIMED
    await store.release("/s", "1")
    assert await store.claim("/s", "1") is CLAIMED


async def test_the_store_is_bounded_oldest_out_first() -> None:
    clock = Clock()
    store = MemoryStore(ttl_seconds=100, max_keys=3, clock=clock)
    for n in range(10):
        clock.now = n
        await store.claim("/s", str(n))
        await store.complete("/s", str(n), None)
    assert len(store) == 3
    assert await store.claim("/s", "0") is CLAIMED  # dropped: past the bound
    assert isinstance(await store.claim("/s", "9"), Done)


async def test_expired_outcomes_are_dropped_as_new_ones_arrive() -> None:
    clock = Clock()
    store = MemoryStore(ttl_seconds=1, max_keys=100, clock=clock)
    for n in range(50):
        clock.now = n * 0.1
        await store.claim("/s", str(n))
        await store.complete("/s", str(n), None)
    assert len(store) <= 20  # swept at most once a second: 1 s of TTL + 1 s of sweep lag


def test_long_keys_are_digests_and_pairs_do_not_collide() -> None:
    assert memory_key("/a", "b") == ("/a", "b")
    long_key = memory_key("/s", "x" * 10_000)
    assert isinstance(long_key, str)
    assert len(long_key) == 64
    assert redis_key("p:", "/ab", "c") != redis_key("p:", "/a", "bc")
    assert len(redis_key("p:", "/s", "x" * 10_000)) == 66


def test_stored_outcomes_round_trip() -> None:
    reply = CloudEvent(id="r", source="/r", type="r", data={"a": [1, 2]}, traceparent="x")
    assert decode_outcome(encode_outcome(reply)) == reply
    assert decode_outcome(encode_outcome(None)) is None


def test_handlers_follow_the_registry_default_unless_they_say() -> None:
    registry = HandlerRegistry(idempotent=True)

    async def handler(event: CloudEvent, data: object) -> None:
        return None

    registry.add("a", handler)
    registry.add("b", handler, idempotent=False)
    a, b = registry.get("a"), registry.get("b")
    assert a is not None
    assert b is not None
    assert (a.idempotent, b.idempotent, registry.idempotent) == (None, False, True)
    assert HandlerRegistry().idempotent is False


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"IDEMPOTENCY": "disk"}, "IDEMPOTENCY='disk': idempotency must be one of none, memory"),
        ({"IDEMPOTENCY": "redis"}, "REDIS_URL must be set"),
        ({"IDEMPOTENCY_TTL_SECONDS": "0"}, "IDEMPOTENCY_TTL_SECONDS=0"),
        ({"REDIS_URL": "http://user:secret@redis"}, "REDIS_URL=<hidden>: redis_url must be"),
    ],
)
def test_bad_idempotency_settings_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings(environ=environ)
    assert message in str(info.value)
    assert "secret" not in str(info.value)


def test_without_idempotency_nothing_of_it_is_imported() -> None:
    code = (
        "import sys\n"
        "from knative_events import create_app, HandlerRegistry, Settings\n"
        "create_app(Settings(environ={}), registry=HandlerRegistry())\n"
        "print([m for m in sys.modules if m.startswith(('knative_events.idempotency', 'redis'))])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
