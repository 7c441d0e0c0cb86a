"""Per-key token buckets: the pure bucket arithmetic, and limiters in memory, in Redis, or both.

A bucket holds up to ``capacity`` tokens and refills at ``requests / window_s`` tokens a
second; each request takes one. We write the bucket ourselves because the ``limits`` library
offers only window strategies (fixed and moving windows), not token buckets. The arithmetic
is one pure function (``take_token``), property-tested; Redis runs the same steps in one Lua
script so that every replica shares one bucket per key, timed by the Redis server's clock.

While Redis is unreachable, ``FallbackRateLimiter`` answers from this process's own buckets
(each replica then allows the full rate on its own) rather than refusing or failing requests.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from redis.exceptions import RedisError

from gateway.settings import RateLimitSettings, Settings

KEY_PREFIX = "ogw:bucket:"  # (ogw:rl: holds the read cache's fill locks)
# After a Redis failure, requests use local buckets this long before Redis is tried again,
# so that not every request pays a connect timeout during an outage.
REDIS_COOLDOWN_S = 1.0
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    updated_at: float  # seconds, on the limiter's clock


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one request: allowed or not, and what the RateLimit headers say."""

    allowed: bool
    limit: int  # the bucket's capacity
    remaining: int  # whole tokens left
    reset_s: int  # whole seconds until the bucket is full again
    retry_after_s: int  # when refused: whole seconds until one token is back; else 0


def refill_rate(policy: RateLimitSettings) -> float:
    """Tokens per second."""
    return policy.requests / policy.window_s


def take_token(bucket: Bucket | None, now: float, capacity: int, rate: float) -> tuple[Bucket, Decision]:
    """Refill ``bucket`` up to ``now`` and take one token if there is one. None: a full bucket."""
    if bucket is None:
        tokens, stamp = float(capacity), now
    else:
        tokens, stamp = bucket.tokens, bucket.updated_at
        if now > stamp:  # a clock that steps back refills nothing (and never twice)
            tokens += (now - stamp) * rate
            stamp = now
    tokens = min(float(capacity), tokens)  # also: a capacity lowered since the bucket was stored
    allowed = tokens >= 1
    if allowed:
        tokens -= 1
    return Bucket(tokens, stamp), decide(allowed, tokens, capacity, rate)


def decide(allowed: bool, tokens: float, capacity: int, rate: float) -> Decision:
    """The decision for a bucket left with ``tokens`` after the take (shared with Redis)."""
    return Decision(
        allowed=allowed,
        limit=capacity,
        remaining=max(0, math.floor(tokens)),
        reset_s=max(0, math.ceil((capacity - tokens) / rate)),
        retry_after_s=0 if allowed else max(1, math.ceil((1 - tokens) / rate)),
    )


class RateLimiter(Protocol):
    """Where buckets live. ``take`` counts one request of the key ``key`` under ``policy``."""

    @property
    def degraded(self) -> bool:
        """True while the shared store is unreachable and local buckets stand in for it."""
        ...

    async def take(self, key: str, policy: RateLimitSettings) -> Decision: ...

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """This process's buckets. One per configured key name, so the dict stays small."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: dict[str, Bucket] = {}
        self._clock = clock

    @property
    def degraded(self) -> bool:
        return False

    async def take(self, key: str, policy: RateLimitSettings) -> Decision:
        # No await in here: on one event loop, a take never interleaves with another.
        bucket, decision = take_token(
            self._buckets.get(key), self._clock(), policy.capacity, refill_rate(policy)
        )
        self._buckets[key] = bucket
        return decision

    async def close(self) -> None:
        self._buckets.clear()


# take_token's steps, atomically in Redis, timed by Redis's own clock (TIME) so that replicas
# with skewed clocks agree. Time is kept in milliseconds; the bucket expires once it would be
# full anyway (a missing bucket is a full one). Lua returns numbers to Redis as integers, so
# the tokens left come back as text. Writing after TIME needs effects replication (Redis >= 5).
_TAKE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local stored = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(stored[1])
local stamp = tonumber(stored[2])
if tokens == nil or stamp == nil then
  tokens = capacity
  stamp = now
elseif now > stamp then
  tokens = tokens + (now - stamp) * rate
  stamp = now
end
tokens = math.min(capacity, tokens)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
local left = string.format('%.17g', tokens)
redis.call('HSET', KEYS[1], 'tokens', left, 'ts', string.format('%d', stamp))
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.ceil((capacity - tokens) / rate) + 1000))
return {allowed, left}
"""


class RedisRateLimiter:
    """Buckets shared by every replica through one Redis (one Lua script per request)."""

    def __init__(self, url: str) -> None:
        from gateway.redis_client import redis_client

        self._redis = redis_client(url)
        self._take = self._redis.register_script(_TAKE_SCRIPT)

    @property
    def degraded(self) -> bool:
        return False

    async def take(self, key: str, policy: RateLimitSettings) -> Decision:
        rate = refill_rate(policy)
        allowed, left = await self._take(keys=[KEY_PREFIX + key], args=[policy.capacity, rate / 1000])
        return decide(bool(allowed), float(left), policy.capacity, rate)

    async def close(self) -> None:
        await self._redis.aclose()


class FallbackRateLimiter:
    """``primary`` (Redis) while it answers; ``fallback`` (memory) while it does not."""

    def __init__(
        self,
        primary: RateLimiter,
        fallback: RateLimiter,
        *,
        target: str,
        cooldown_s: float = REDIS_COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._primary = primary
        self._fallback = fallback
        self._target = target  # for logs: never carries a password
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._degraded = False
        self._retry_at = 0.0

    @property
    def degraded(self) -> bool:
        return self._degraded

    async def take(self, key: str, policy: RateLimitSettings) -> Decision:
        now = self._clock()
        if not self._degraded or now >= self._retry_at:
            # While degraded, one request per cooldown probes Redis; the others stay local.
            self._retry_at = now + self._cooldown_s
            try:
                decision = await self._primary.take(key, policy)
            except (RedisError, OSError) as exc:
                self._failed(exc)
            else:
                self._answered()
                return decision
        return await self._fallback.take(key, policy)

    def _failed(self, exc: Exception) -> None:
        self._retry_at = self._clock() + self._cooldown_s
        if not self._degraded:
            self._degraded = True
            # The class name only: a redis error's text is not ours to vouch for.
            log.warning(
                "rate limits: Redis at %s unreachable (%s); using this replica's own buckets",
                self._target,
                type(exc).__name__,
            )

    def _answered(self) -> None:
        if self._degraded:
            self._degraded = False
            log.info("rate limits: Redis at %s answers again; buckets are shared again", self._target)

    async def close(self) -> None:
        try:
            await self._primary.close()
        finally:
            await self._fallback.close()


def build_rate_limiter(settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> RateLimiter:
    """Shared buckets (with a local fallback) when Redis is configured; else local buckets."""
    memory = MemoryRateLimiter(clock=clock)
    url = settings.cache.url
    if settings.cache.backend == "redis" and url:
        return FallbackRateLimiter(RedisRateLimiter(url), memory, target=redacted_url(url), clock=clock)
    return memory


def policy_resolver(settings: Settings) -> Callable[[str], RateLimitSettings]:
    """Key name → its bucket's policy: the key's own ``rate_limit``, else the top-level one."""
    by_key = {key.name: key.rate_limit for key in settings.api_keys if key.rate_limit is not None}
    default = settings.rate_limit

    def policy_for(name: str) -> RateLimitSettings:
        return by_key.get(name, default)

    return policy_for


def redacted_url(url: str) -> str:
    """``scheme://host:port/db`` of a Redis URL: no user name, password or query."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
