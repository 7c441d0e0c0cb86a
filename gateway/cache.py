"""The read cache's interface and its memory store: entries keyed by query, tagged by instance.

Reads will be served from here (the caching issue); writes already evict through it: every
successful write drops the entries tagged with its order and its instance's listings
before the answer is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Protocol

from cachetools import TTLCache


def order_tag(instance: str, native_id: str) -> str:
    return f"order:{instance}:{native_id}"


def listing_tag(instance: str) -> str:
    return f"list:{instance}"


class ReadCache(Protocol):
    """Where cached reads live; one instance per process (memory) or shared (Redis, later)."""

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, *, ttl_s: float, tags: Iterable[str]) -> None: ...

    async def evict(self, tags: Iterable[str]) -> int:
        """Drop every entry carrying one of ``tags``; how many were dropped."""
        ...


class MemoryReadCache:
    """A bounded in-process cache (cachetools) with a tag index for eviction."""

    def __init__(self, *, maxsize: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        # One TTL cache per distinct TTL would be simpler to expire; entries carry their own
        # deadline instead, checked on read, and the LRU bound keeps memory in check.
        self._entries: TTLCache[str, tuple[float, bytes, frozenset[str]]] = TTLCache(
            maxsize=maxsize, ttl=24 * 3600, timer=clock
        )
        self._tagged: dict[str, set[str]] = {}
        self._clock = clock

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    async def put(self, key: str, value: bytes, *, ttl_s: float, tags: Iterable[str]) -> None:
        tag_set = frozenset(tags)
        self._entries[key] = (self._clock() + ttl_s, value, tag_set)
        for tag in tag_set:
            self._tagged.setdefault(tag, set()).add(key)

    async def evict(self, tags: Iterable[str]) -> int:
        dropped = 0
        for tag in tags:
            for key in self._tagged.pop(tag, set()):
                if self._entries.pop(key, None) is not None:
                    dropped += 1
        return dropped
