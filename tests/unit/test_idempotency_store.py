"""Idempotency records: the same semantics in memory and in a real Redis."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from gateway.idempotency import (
    RECORD_OVERHEAD_BYTES,
    IdempotencyRecord,
    IdempotencyStore,
    MemoryIdempotencyStore,
    RedisIdempotencyStore,
    StoredResponse,
    order_marker,
    record_key,
)

IN_FLIGHT = IdempotencyRecord(fingerprint="f1", state="in_flight")
DONE = IdempotencyRecord(
    fingerprint="f1",
    state="done",
    response=StoredResponse(201, (("content-type", "application/json"),), b'{"id":1}'),
)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[IdempotencyStore]:
    if request.param == "memory":
        memory = MemoryIdempotencyStore()
        yield memory
        return
    redis_store = RedisIdempotencyStore(request.getfixturevalue("redis_url"))
    await redis_store._redis.flushdb()
    yield redis_store
    await redis_store.close()


async def test_first_claim_wins_and_later_ones_see_it(store: IdempotencyStore) -> None:
    assert await store.claim("k", IN_FLIGHT, 60) is None
    assert await store.claim("k", IN_FLIGHT, 60) == IN_FLIGHT


async def test_done_record_round_trips_the_response_byte_for_byte(store: IdempotencyStore) -> None:
    await store.claim("k", IN_FLIGHT, 60)
    await store.put("k", DONE, 60)
    assert await store.claim("k", IN_FLIGHT, 60) == DONE


async def test_replace_is_compare_and_set(store: IdempotencyStore) -> None:
    uncertain = IdempotencyRecord(fingerprint="f1", state="uncertain")
    await store.put("k", uncertain, 60)
    assert await store.replace("k", uncertain, IN_FLIGHT, 60)
    assert not await store.replace("k", uncertain, IN_FLIGHT, 60)  # someone else took it
    assert await store.claim("k", DONE, 60) == IN_FLIGHT


async def test_release_frees_the_key(store: IdempotencyStore) -> None:
    await store.claim("k", IN_FLIGHT, 60)
    await store.release("k")
    assert await store.claim("k", DONE, 60) is None


async def test_records_expire(store: IdempotencyStore) -> None:
    if isinstance(store, MemoryIdempotencyStore):
        now = [0.0]
        store = MemoryIdempotencyStore(clock=lambda: now[0])
        await store.claim("k", IN_FLIGHT, 5)
        now[0] = 6.0
    else:
        await store.claim("k", IN_FLIGHT, 1)
        await asyncio.sleep(1.2)
    assert await store.claim("k", DONE, 60) is None


async def test_concurrent_claims_have_exactly_one_winner(store: IdempotencyStore) -> None:
    results = await asyncio.gather(*(store.claim("race", IN_FLIGHT, 60) for _ in range(50)))
    assert sum(r is None for r in results) == 1


def test_keys_and_markers_are_scoped_per_caller() -> None:
    assert record_key("a", "k") != record_key("b", "k")
    assert order_marker("a", "k") == order_marker("a", "k") != order_marker("b", "k")
    assert order_marker("a", "k").startswith("ogw-") and len(order_marker("a", "k")) == 24


async def test_the_memory_store_is_bounded_in_bytes_and_says_when_it_drops_a_live_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    size = len(DONE.encode()) + RECORD_OVERHEAD_BYTES
    store = MemoryIdempotencyStore(max_bytes=3 * size, clock=lambda: now[0])
    for n in range(3):
        assert await store.claim(f"k{n}", DONE, 600) is None
    with caplog.at_level(logging.WARNING, logger="gateway.idempotency"):
        assert await store.claim("k3", DONE, 600) is None  # no room: k0, least recently used, goes
        now[0] = 10.0
        assert await store.claim("k4", DONE, 600) is None  # k1 goes too, but within the minute
    assert await store.claim("k2", IN_FLIGHT, 600) == DONE  # kept
    assert await store.claim("k0", IN_FLIGHT, 600) is None  # dropped: a retry would run again
    warnings = [r.getMessage() for r in caplog.records if r.name == "gateway.idempotency"]
    assert len(warnings) == 1 and "idempotency.max_bytes" in warnings[0]
