"""Token buckets in a real Redis, and the fallback to local buckets while Redis is away."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.ratelimit import (
    KEY_PREFIX,
    FallbackRateLimiter,
    MemoryRateLimiter,
    RedisRateLimiter,
    build_rate_limiter,
)
from gateway.settings import RateLimitSettings, settings_from_mapping
from tests.support.credentials import REDIS_PASSWORD
from tests.support.redis_server import restartable_redis

PROVIDERS = {"w": {"kind": "waldur", "base_url": "http://w.sim/api/", "token": "t"}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def limiter(redis_url: str) -> AsyncIterator[RedisRateLimiter]:
    redis = RedisRateLimiter(redis_url)
    yield redis
    await redis.close()


def fresh_key() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


async def test_redis_bucket_counts_down_refuses_and_expires_when_full_again(
    limiter: RedisRateLimiter,
) -> None:
    key = fresh_key()
    policy = RateLimitSettings(requests=3, window_s=60)
    decisions = [await limiter.take(key, policy) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert all(d.limit == 3 for d in decisions)
    assert decisions[0].reset_s == 20 and decisions[2].reset_s == 60
    assert decisions[3].retry_after_s == 20
    ttl_ms = await limiter._redis.pttl(KEY_PREFIX + key)
    assert 59_000 < ttl_ms <= 61_000  # about the time until the bucket is full again


async def test_redis_bucket_refills_on_the_redis_clock(limiter: RedisRateLimiter) -> None:
    key = fresh_key()
    policy = RateLimitSettings(requests=20, window_s=1, burst=2)  # a token every 50 ms
    assert [(await limiter.take(key, policy)).allowed for _ in range(3)] == [True, True, False]
    await asyncio.sleep(0.12)
    assert (await limiter.take(key, policy)).allowed


async def test_two_clients_of_one_redis_share_the_bucket(redis_url: str, limiter: RedisRateLimiter) -> None:
    other = RedisRateLimiter(redis_url)  # as another replica would
    key = fresh_key()
    policy = RateLimitSettings(requests=4, window_s=60)
    try:
        results = [await (limiter if i % 2 else other).take(key, policy) for i in range(5)]
    finally:
        await other.close()
    assert [r.allowed for r in results] == [True, True, True, True, False]


async def test_concurrent_takes_never_overspend(limiter: RedisRateLimiter) -> None:
    key = fresh_key()
    policy = RateLimitSettings(requests=10, window_s=3600)
    results = await asyncio.gather(*(limiter.take(key, policy) for _ in range(30)))
    assert sum(r.allowed for r in results) == 10


def test_redis_backend_builds_the_fallback_limiter(redis_url: str) -> None:
    settings = settings_from_mapping(
        {"providers": PROVIDERS, "cache": {"backend": "redis", "url": redis_url}}, env={}
    )
    limiter = build_rate_limiter(settings)
    assert isinstance(limiter, FallbackRateLimiter) and not limiter.degraded


async def test_fallback_goes_local_while_redis_is_down_and_back_when_it_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.ratelimit")
    clock = Clock()
    policy = RateLimitSettings(requests=100, window_s=60)
    with restartable_redis(tmp_path) as server:
        limiter = FallbackRateLimiter(
            RedisRateLimiter(server.url), MemoryRateLimiter(clock=clock), target="redis://x/0", clock=clock
        )
        try:
            assert (await limiter.take("k", policy)).remaining == 99
            assert not limiter.degraded

            server.kill()
            first = await limiter.take("k", policy)  # Redis fails: answered locally
            assert first.allowed and limiter.degraded
            loop = asyncio.get_running_loop()
            started = loop.time()
            for _ in range(20):  # within the cooldown: Redis is not even tried
                assert (await limiter.take("k", policy)).allowed
            assert loop.time() - started < 0.2
            clock.now += 1.5
            assert (await limiter.take("k", policy)).allowed  # probed, still down
            assert limiter.degraded

            server.start()  # a fresh Redis: empty, so the shared bucket starts full
            assert limiter.degraded  # until a probe is due
            clock.now += 1.5
            back = await limiter.take("k", policy)
            assert not limiter.degraded and back.remaining == 99
        finally:
            await limiter.close()
    messages = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "gateway.ratelimit"]
    assert [level for level, _ in messages] == [logging.WARNING, logging.INFO]  # once per outage
    assert "redis://x/0" in messages[0][1] and "ConnectionError" in messages[0][1]


async def test_fallback_logs_never_carry_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with restartable_redis(tmp_path) as server:
        secret_url = server.url.replace("redis://", f"redis://:{REDIS_PASSWORD}@")
        server.kill()
        settings = settings_from_mapping(
            {"providers": PROVIDERS, "cache": {"backend": "redis", "url": secret_url}}, env={}
        )
        limiter = build_rate_limiter(settings)
        try:
            assert (await limiter.take("k", RateLimitSettings())).allowed
            assert limiter.degraded
        finally:
            await limiter.close()
    assert caplog.records and all(REDIS_PASSWORD not in r.getMessage() for r in caplog.records)
    assert any(f"127.0.0.1:{server.port}" in r.getMessage() for r in caplog.records)
