"""Read-cache stores: the same semantics in memory and in a real Redis; bounds; single-flight
across processes sharing Redis; and the fallback to memory while Redis is away."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.cache import CacheEntry, MemoryReadCache, ReadCache, ReadThrough, reading
from gateway.cache_redis import FallbackReadCache, RedisReadCache
from gateway.errors import UpstreamBadResponseError
from tests.support.redis_server import restartable_redis, running_redis


def entry(value: bytes, ttl_s: float = 60, stale_s: float = 0) -> CacheEntry:
    now = time.time()
    return CacheEntry(value, now, now + ttl_s, now + ttl_s + stale_s)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[ReadCache]:
    if request.param == "memory":
        yield MemoryReadCache()
        return
    shared = RedisReadCache(request.getfixturevalue("redis_url"))
    await shared._redis.flushdb()
    yield shared
    await shared.close()


async def test_put_get_and_evict_by_tag(store: ReadCache) -> None:
    assert await store.put("a", entry(b"1"), ("t1", "t2"), await store.versions(("t1", "t2")))
    assert await store.put("b", entry(b"2"), ("t2",), await store.versions(("t2",)))
    assert await store.put("c", entry(b"3"), ("t3",), await store.versions(("t3",)))
    got = await store.get("a")
    assert got is not None and got.value == b"1"
    assert await store.evict(["t2"]) == 2
    assert await store.get("a") is None and await store.get("b") is None
    third = await store.get("c")
    assert third is not None and third.value == b"3"


async def test_an_eviction_since_the_versions_were_read_refuses_the_put(store: ReadCache) -> None:
    versions = await store.versions(("list:x",))
    await store.evict(["list:x"])
    assert not await store.put("k", entry(b"old"), ("list:x",), versions)
    assert await store.get("k") is None
    assert await store.put("k", entry(b"new"), ("list:x",), await store.versions(("list:x",)))


async def test_entries_are_kept_until_stale_until_then_gone(store: ReadCache) -> None:
    await store.put("s", entry(b"x", ttl_s=0.05, stale_s=0.1), ("t",), await store.versions(("t",)))
    await asyncio.sleep(0.08)
    kept = await store.get("s")
    assert kept is not None and kept.fresh_until < time.time()  # past its TTL, still stale-servable
    await asyncio.sleep(0.1)
    assert await store.get("s") is None


async def test_stamps_say_which_entry_a_key_holds_without_its_value(store: ReadCache) -> None:
    kept, brief = entry(b"x" * 5000), entry(b"y", ttl_s=0.05)
    assert await store.put("k", kept, ("t",), await store.versions(("t",)))
    assert await store.put("brief", brief, ("u",), await store.versions(("u",)))
    assert await store.stamps(["k", "missing", "brief"]) == [kept.stamp, None, brief.stamp]
    assert kept.stamp.stored_at == kept.stored_at and kept.stamp.fresh_until == kept.fresh_until
    await asyncio.sleep(0.08)  # past the brief one's stale_until (no stale time)
    await store.evict(["t"])
    assert await store.stamps(["k", "brief"]) == [None, None]
    assert await store.stamps([]) == []


async def test_fill_locks_are_exclusive_until_released(store: ReadCache) -> None:
    if isinstance(store, MemoryReadCache):
        assert await store.lock("k", 1) and await store.lock("k", 1)  # one process needs none
        return
    assert await store.lock("k", 1)
    assert not await store.lock("k", 1) and await store.locked("k")
    await store.unlock("k")
    assert not await store.locked("k") and await store.lock("k", 1)


async def test_memory_store_is_bounded_by_entries_and_by_bytes() -> None:
    by_count = MemoryReadCache(max_entries=3)
    for i in range(5):
        await by_count.put(f"k{i}", entry(b"v"), (f"t{i}",), (0,))
    assert len(by_count) == 3 and await by_count.get("k0") is None and await by_count.get("k4") is not None
    by_size = MemoryReadCache(max_bytes=12_000)
    for i in range(10):
        await by_size.put(f"k{i}", entry(b"x" * 2_000), ("t",), await by_size.versions(("t",)))
    assert len(by_size) == 4  # 2,000 bytes + ~700 overhead each: the fifth would pass 12,000
    assert not await by_size.put("huge", entry(b"x" * 20_000), ("t",), await by_size.versions(("t",)))
    # Dropped keys leave the tag index: evicting the tag counts only what is still there.
    assert await by_size.evict(["t"]) == 4 and len(by_size) == 0


async def test_two_processes_sharing_redis_make_one_upstream_call(redis_url: str) -> None:
    stores = [RedisReadCache(redis_url), RedisReadCache(redis_url)]
    await stores[0]._redis.flushdb()
    replicas = [ReadThrough(store) for store in stores]  # separate in-process flights, one Redis
    fetches = 0

    async def fetch() -> bytes:
        nonlocal fetches
        fetches += 1
        await asyncio.sleep(0.2)
        return b"answer"

    async def read(replica: ReadThrough) -> bytes:
        value, _ = await replica.read("shared-key", fetch, ttl_s=30, stale_s=0, tags=("t",))
        return value

    try:
        values = await asyncio.gather(*(read(replicas[i % 2]) for i in range(40)))
    finally:
        for store in stores:
            await store.close()
    assert set(values) == {b"answer"} and fetches == 1


class _OtherProcessFillsDuringOurGet(MemoryReadCache):
    """Another process holds the fill lock, and stores and unlocks right after our first get."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    async def lock(self, key: str, ttl_s: float) -> bool:
        return False

    async def locked(self, key: str) -> bool:
        return False

    async def get(self, key: str) -> CacheEntry | None:
        self.gets += 1
        found = await super().get(key)
        if self.gets == 2:  # our first get after taking no lock: the other process lands now
            await super().put(key, entry(b"theirs"), ("t",), await self.versions(("t",)))
        return found


async def test_a_fill_stored_just_before_the_lock_went_is_used_not_fetched_again() -> None:
    store = _OtherProcessFillsDuringOurGet()

    async def fetch() -> bytes:
        raise AssertionError("fetched although the other process had stored the answer")

    value, outcome = await ReadThrough(store).read("k", fetch, ttl_s=30, stale_s=0, tags=("t",))
    assert value == b"theirs" and outcome.source == "collapsed"


async def test_a_failed_fill_releases_the_lock_and_serves_stale(redis_url: str) -> None:
    store = RedisReadCache(redis_url)
    await store._redis.flushdb()
    replica = ReadThrough(store)
    await store.put("k", entry(b"old", ttl_s=-1, stale_s=60), ("t",), await store.versions(("t",)))

    async def failing() -> bytes:
        raise UpstreamBadResponseError("down", provider="x")

    with reading() as ledger:
        value, outcome = await replica.read("k", failing, ttl_s=30, stale_s=60, tags=("t",))
    assert value == b"old" and outcome.source == "stale" and outcome.ttl_left_s < 0
    assert not await store.locked("k")
    with pytest.raises(UpstreamBadResponseError):
        await replica.read("missing", failing, ttl_s=30, stale_s=60, tags=("t",))
    assert ledger.reads == {}  # the store layer notes nothing; the Cached layer does
    await store.close()


async def test_fallback_serves_from_memory_while_redis_is_down_and_replays_evictions(tmp_path: Path) -> None:
    with running_redis(tmp_path) as url:
        redis_store = RedisReadCache(url)
        now = [0.0]
        cache = FallbackReadCache(redis_store, MemoryReadCache(), monotonic=lambda: now[0])
        await cache.put("k", entry(b"before"), ("list:x",), await cache.versions(("list:x",)))
        assert not cache.degraded
    # Redis is gone: nothing raises, memory takes over.
    assert await cache.get("k") is None and cache.degraded
    assert await cache.put("m", entry(b"local"), ("t",), await cache.versions(("t",)))
    local = await cache.get("m")
    assert local is not None and local.value == b"local"
    assert await cache.evict(["list:x"]) == 0  # remembered for Redis
    await redis_store.close()
    # (A restarted Redis on the same port would receive the replayed evictions; shown below
    # with a Redis that stays up but is unreachable for a while.)


async def test_evictions_missed_during_an_outage_reach_redis_when_it_answers_again(tmp_path: Path) -> None:
    with restartable_redis(tmp_path) as server:
        redis_store = RedisReadCache(server.url)
        now = [0.0]
        cache = FallbackReadCache(redis_store, MemoryReadCache(), monotonic=lambda: now[0])
        await cache.put("k", entry(b"before"), ("list:x",), await cache.versions(("list:x",)))
        server.pause()  # Redis hangs: calls time out
        try:
            assert await cache.evict(["list:x"]) == 0 and cache.degraded
            assert await cache.get("k") is None  # memory answers meanwhile
        finally:
            server.resume()
        assert await cache.get("k") is None and cache.degraded  # still within the cooldown
        now[0] += 5
        await redis_store._redis.connection_pool.disconnect()  # drop the timed-out connections
        assert await cache.get("k") is None and not cache.degraded
        assert await redis_store.get("k") is None  # the eviction reached Redis on its return
        await redis_store.close()
