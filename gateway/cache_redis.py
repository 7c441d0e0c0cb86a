"""The read cache in a Redis shared by every replica, and its fallback to memory.

Keys (``ogw:`` prefix): ``rc:<key>`` an entry, ``rt:<tag>`` the set of keys carrying a tag,
``rv:<tag>`` a tag's eviction count, ``rl:<key>`` a fill lock. Storing checks the tag counts
in the same script that writes, so an eviction on any replica between a fill's start and its
store refuses the store.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.cache import CacheEntry, MemoryReadCache, Stamp
from gateway.redis_client import redis_client

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_AFTER_OUTAGE_S = 1.0  # while Redis is down, how often one request tries it again

# ARGV: value, ttl_ms, n, tag_1..tag_n, version_1..version_n
_PUT = """
local n = tonumber(ARGV[3])
for i = 1, n do
  local seen = redis.call('GET', 'ogw:rv:' .. ARGV[3 + i]) or '0'
  if seen ~= ARGV[3 + n + i] then return 0 end
end
local ttl_ms = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl_ms)
for i = 1, n do
  local tagset = 'ogw:rt:' .. ARGV[3 + i]
  redis.call('SADD', tagset, KEYS[1])
  if redis.call('PTTL', tagset) < ttl_ms then redis.call('PEXPIRE', tagset, ttl_ms) end
end
return 1
"""

_EVICT = """
local dropped = 0
for _, tag in ipairs(ARGV) do
  redis.call('INCR', 'ogw:rv:' .. tag)
  local tagset = 'ogw:rt:' .. tag
  for _, key in ipairs(redis.call('SMEMBERS', tagset)) do
    dropped = dropped + redis.call('DEL', key)
  end
  redis.call('DEL', tagset)
end
return dropped
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisReadCache:
    """Entries in Redis with their own expiry; every replica reads and evicts the same ones."""

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        self._redis: Redis = redis_client(url)
        self._put = self._redis.register_script(_PUT)
        self._evict = self._redis.register_script(_EVICT)
        self._unlock = self._redis.register_script(_UNLOCK)
        self._lock_token = secrets.token_hex(8)  # this process's mark on the locks it takes
        self._clock = clock

    async def get(self, key: str) -> CacheEntry | None:
        raw = await self._redis.get("ogw:rc:" + key)
        if raw is None:
            return None
        entry = CacheEntry.decode(raw if isinstance(raw, bytes) else raw.encode())
        return entry if entry.stale_until > self._clock() else None

    async def versions(self, tags: Iterable[str]) -> tuple[int, ...]:
        names = ["ogw:rv:" + tag for tag in tags]
        if not names:
            return ()
        return tuple(int(v or 0) for v in await self._redis.mget(names))

    async def stamps(self, keys: Sequence[str]) -> list[Stamp | None]:
        """The entries' headers alone (GETRANGE), all in one round trip."""
        if not keys:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.getrange("ogw:rc:" + key, 0, CacheEntry.HEADER_BYTES - 1)
            heads = await pipe.execute()
        now = self._clock()
        found: list[Stamp | None] = []
        for head in heads:
            stamp = CacheEntry.stamp_of(head) if len(head) == CacheEntry.HEADER_BYTES else None
            found.append(stamp if stamp is not None and stamp.stale_until > now else None)
        return found

    async def put(
        self, key: str, entry: CacheEntry, tags: tuple[str, ...], versions: tuple[int, ...]
    ) -> bool:
        ttl_ms = max(1, int((entry.stale_until - self._clock()) * 1000))
        args: list[bytes | str | int] = [
            entry.encode(),
            ttl_ms,
            len(tags),
            *tags,
            *(str(v) for v in versions),
        ]
        stored = await self._put(keys=["ogw:rc:" + key], args=args)
        return bool(stored)

    async def evict(self, tags: Iterable[str]) -> int:
        return int(await self._evict(keys=[], args=list(tags)))

    async def lock(self, key: str, ttl_s: float) -> bool:
        return bool(await self._redis.set("ogw:rl:" + key, self._lock_token, nx=True, px=int(ttl_s * 1000)))

    async def unlock(self, key: str) -> None:
        await self._unlock(keys=["ogw:rl:" + key], args=[self._lock_token])

    async def locked(self, key: str) -> bool:
        return bool(await self._redis.exists("ogw:rl:" + key))

    async def close(self) -> None:
        await self._redis.aclose()


class FallbackReadCache:
    """Redis while it answers; this process's memory while it does not.

    Reads never fail because Redis did: they go to memory (degraded, logged once per outage,
    visible in ``/readyz``). Evictions made during the outage are remembered and replayed on
    Redis when it answers again, so nothing cached before a write is served after it.
    """

    def __init__(
        self,
        primary: RedisReadCache,
        fallback: MemoryReadCache,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._primary = primary
        self._fallback = fallback
        self._monotonic = monotonic
        self._down_since: float | None = None
        self._next_try = 0.0
        self._missed_evictions: set[str] = set()

    @property
    def degraded(self) -> bool:
        return self._down_since is not None

    async def get(self, key: str) -> CacheEntry | None:
        return await self._either(lambda store: store.get(key))

    async def versions(self, tags: Iterable[str]) -> tuple[int, ...]:
        names = tuple(tags)
        return await self._either(lambda store: store.versions(names))

    async def stamps(self, keys: Sequence[str]) -> list[Stamp | None]:
        return await self._either(lambda store: store.stamps(keys))

    async def put(
        self, key: str, entry: CacheEntry, tags: tuple[str, ...], versions: tuple[int, ...]
    ) -> bool:
        return await self._either(lambda store: store.put(key, entry, tags, versions))

    async def evict(self, tags: Iterable[str]) -> int:
        names = tuple(tags)
        local = await self._fallback.evict(names)
        if self._usable():
            try:
                return await self._primary.evict(names) + local
            except (RedisError, OSError) as exc:
                self._went_down(exc)
        self._missed_evictions.update(names)
        return local

    async def lock(self, key: str, ttl_s: float) -> bool:
        return await self._either(lambda store: store.lock(key, ttl_s))

    async def unlock(self, key: str) -> None:
        await self._either(lambda store: store.unlock(key))

    async def locked(self, key: str) -> bool:
        return await self._either(lambda store: store.locked(key))

    async def close(self) -> None:
        await self._primary.close()

    async def _either(self, call: Callable[[Any], Awaitable[T]]) -> T:
        if self._usable() and (self._down_since is None or await self._came_back()):
            try:
                return await call(self._primary)
            except (RedisError, OSError) as exc:
                self._went_down(exc)
        return await call(self._fallback)

    def _usable(self) -> bool:
        return self._down_since is None or self._monotonic() >= self._next_try

    def _went_down(self, exc: BaseException) -> None:
        now = self._monotonic()
        if self._down_since is None:
            self._down_since = now
            log.warning("read cache: Redis unreachable (%s); caching in this process", type(exc).__name__)
        self._next_try = now + RETRY_AFTER_OUTAGE_S

    async def _came_back(self) -> bool:
        """Redis may be back: replay the evictions it missed first; whether it answered."""
        try:
            if self._missed_evictions:
                await self._primary.evict(self._missed_evictions)
            else:
                await self._primary.versions(("ping",))
        except (RedisError, OSError) as exc:
            self._went_down(exc)
            return False
        self._missed_evictions.clear()
        outage = self._monotonic() - (self._down_since or 0.0)
        self._down_since = None
        self._fallback.clear()  # filled during the outage; Redis is the truth again
        log.info("read cache: Redis reachable again after %.1f s", outage)
        return True
