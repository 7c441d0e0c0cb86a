"""Token buckets: the pure arithmetic (examples and properties) and the in-memory limiter."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from gateway.ratelimit import (
    Bucket,
    MemoryRateLimiter,
    build_rate_limiter,
    policy_resolver,
    redacted_url,
    take_token,
)
from gateway.settings import RateLimitSettings, settings_from_mapping

PROVIDERS = {"w": {"kind": "waldur", "base_url": "http://w.sim/api/", "token": "t"}}
DIGEST = "0" * 64


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_new_bucket_is_full_and_the_first_take_leaves_capacity_minus_one() -> None:
    bucket, decision = take_token(None, 10.0, capacity=5, rate=1.0)
    assert bucket == Bucket(4.0, 10.0)
    assert (decision.allowed, decision.limit, decision.remaining, decision.reset_s) == (True, 5, 4, 1)
    assert decision.retry_after_s == 0


def test_an_empty_bucket_refuses_and_says_when_one_token_is_back() -> None:
    bucket = Bucket(0.25, 10.0)
    after, decision = take_token(bucket, 10.0, capacity=4, rate=0.5)
    assert not decision.allowed
    assert after == bucket  # a refusal takes nothing
    assert decision.remaining == 0
    assert decision.retry_after_s == 2  # 0.75 tokens at 0.5/s: 1.5 s, rounded up
    assert decision.reset_s == 8  # 3.75 tokens at 0.5/s: 7.5 s, rounded up


def test_refill_is_proportional_to_elapsed_time_and_capped_at_capacity() -> None:
    _, half = take_token(Bucket(0.0, 0.0), 3.0, capacity=10, rate=0.5)  # 1.5 tokens back
    assert half.allowed and half.remaining == 0
    full, decision = take_token(Bucket(0.0, 0.0), 1_000.0, capacity=10, rate=0.5)
    assert full.tokens == 9.0 and decision.remaining == 9


def test_a_clock_stepping_back_refills_nothing() -> None:
    after, decision = take_token(Bucket(2.0, 100.0), 50.0, capacity=10, rate=1.0)
    assert decision.allowed and after == Bucket(1.0, 100.0)


def test_a_capacity_lowered_since_the_bucket_was_stored_caps_it() -> None:
    _, decision = take_token(Bucket(500.0, 0.0), 0.0, capacity=10, rate=1.0)
    assert decision.allowed and decision.remaining == 9


times = st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1, max_size=80)


@given(
    capacity=st.integers(min_value=1, max_value=20),
    requests=st.integers(min_value=1, max_value=100),
    window_s=st.floats(min_value=0.5, max_value=120),
    gaps=times,
)
def test_never_more_than_capacity_plus_refill_over_any_interval(
    capacity: int, requests: int, window_s: float, gaps: list[float]
) -> None:
    rate = requests / window_s
    bucket: Bucket | None = None
    now = 0.0
    allowed_at: list[float] = []
    for gap in gaps:
        now += gap
        bucket, decision = take_token(bucket, now, capacity, rate)
        if decision.allowed:
            allowed_at.append(now)
    for i, start in enumerate(allowed_at):
        for j in range(i, len(allowed_at)):
            # 1e-9: float rounding of the refill, not a token.
            assert j - i + 1 <= capacity + rate * (allowed_at[j] - start) + 1e-9


@given(
    capacity=st.integers(min_value=1, max_value=20),
    rate=st.floats(min_value=0.01, max_value=100),
    gaps=times,
)
def test_headers_are_consistent_and_retry_after_is_enough(
    capacity: int, rate: float, gaps: list[float]
) -> None:
    bucket: Bucket | None = None
    now = 0.0
    for gap in gaps:
        now += gap
        bucket, decision = take_token(bucket, now, capacity, rate)
        assert 0 <= decision.remaining <= capacity - (1 if decision.allowed else 0)
        assert decision.reset_s == math.ceil((capacity - bucket.tokens) / rate)
        if not decision.allowed:
            assert decision.retry_after_s >= 1
            # Waiting as long as Retry-After says is enough for the next request.
            _, retried = take_token(bucket, now + decision.retry_after_s + 1e-6, capacity, rate)
            assert retried.allowed


async def test_memory_limiter_keeps_one_bucket_per_key_on_its_clock() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock=clock)
    policy = RateLimitSettings(requests=2, window_s=10)
    assert [(await limiter.take("a", policy)).allowed for _ in range(3)] == [True, True, False]
    assert (await limiter.take("b", policy)).allowed  # another key, another bucket
    refused = await limiter.take("a", policy)
    assert refused.retry_after_s == 5
    clock.now += 5
    assert (await limiter.take("a", policy)).allowed
    assert not limiter.degraded
    await limiter.close()


async def test_burst_is_the_capacity_and_requests_per_window_the_rate() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock=clock)
    policy = RateLimitSettings(requests=60, window_s=60, burst=3)
    decisions = [await limiter.take("k", policy) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[0].limit == 3 and decisions[-1].retry_after_s == 1
    clock.now += 1
    assert (await limiter.take("k", policy)).allowed


def test_each_key_gets_its_own_policy_or_the_default() -> None:
    settings = settings_from_mapping(
        {
            "providers": PROVIDERS,
            "rate_limit": {"requests": 7, "window_s": 1},
            "api_keys": [
                {"name": "plain", "sha256": DIGEST, "scopes": ["orders:read"]},
                {
                    "name": "big",
                    "sha256": "1" * 64,
                    "scopes": ["orders:read"],
                    "rate_limit": {"requests": 100, "window_s": 60, "burst": 150},
                },
            ],
        },
        env={},
    )
    policy_for = policy_resolver(settings)
    assert policy_for("plain").requests == 7
    assert policy_for("big").capacity == 150
    assert policy_for("unknown") == settings.rate_limit


def test_memory_backend_builds_a_memory_limiter() -> None:
    settings = settings_from_mapping({"providers": PROVIDERS}, env={})
    assert isinstance(build_rate_limiter(settings), MemoryRateLimiter)


def test_redacted_url_drops_credentials() -> None:
    assert redacted_url("redis://user:s3cret@cache.internal:6380/2") == "redis://cache.internal:6380/2"
    assert redacted_url("rediss://:s3cret@cache") == "rediss://cache"
