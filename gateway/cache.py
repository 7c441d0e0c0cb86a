"""The read cache: its store interface, the in-process store, and reading through it.

A store keeps opaque byte values under string keys, each tagged (``order:<instance>:<id>``,
``list:<instance>``) so a write can evict every read it made stale. ``ReadThrough`` puts a
store in front of an upstream call:

- a fresh entry answers at once (HIT);
- concurrent misses for one key make one upstream call: in this process by sharing one
  future, across processes by a short fill lock in the store (the others wait for the value);
- when the upstream fails, an entry past its TTL but within ``stale_if_error`` answers (STALE);
- an eviction that lands while a fill is in flight wins: the fill is not stored, because the
  answer it carries may predate the write (tag versions, checked at store time).

What was served is noted in the request's ``ReadLedger`` (a context variable), from which the
service reports each instance's source and the routes build ``X-Cache``/``Cache-Status``.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import NamedTuple, Protocol

from gateway.errors import UpstreamError
from gateway.models import ReadOutcome, ReadSource

FILL_LOCK_S = 5.0  # how long another process may hold a key's fill lock before we fetch anyway
FILL_POLL_S = 0.02


def order_tag(instance: str, native_id: str) -> str:
    return f"order:{instance}:{native_id}"


def listing_tag(instance: str) -> str:
    return f"list:{instance}"


class Stamp(NamedTuple):
    """Which entry a key holds (``stored_at``) and its lifetimes, without its value."""

    stored_at: float
    fresh_until: float
    stale_until: float


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A stored answer and its lifetimes, as wall-clock times (shared by every replica)."""

    value: bytes
    stored_at: float
    fresh_until: float
    stale_until: float

    _HEADER = struct.Struct("!ddd")

    @property
    def stamp(self) -> Stamp:
        return Stamp(self.stored_at, self.fresh_until, self.stale_until)

    def encode(self) -> bytes:
        return self._HEADER.pack(self.stored_at, self.fresh_until, self.stale_until) + self.value

    HEADER_BYTES = _HEADER.size

    @classmethod
    def stamp_of(cls, head: bytes) -> Stamp:
        """The stamp in the first ``HEADER_BYTES`` of an encoded entry."""
        return Stamp(*cls._HEADER.unpack_from(head))

    @classmethod
    def decode(cls, raw: bytes) -> CacheEntry:
        stored_at, fresh_until, stale_until = cls._HEADER.unpack_from(raw)
        return cls(raw[cls._HEADER.size :], stored_at, fresh_until, stale_until)


class ReadCache(Protocol):
    """Where cached reads live: this process's memory, or a Redis shared by every replica."""

    async def get(self, key: str) -> CacheEntry | None:
        """The entry, until its ``stale_until``; None when absent or older."""
        ...

    async def versions(self, tags: Iterable[str]) -> tuple[int, ...]:
        """Each tag's eviction count, read before a fill so the fill can be refused later."""
        ...

    async def stamps(self, keys: Sequence[str]) -> list[Stamp | None]:
        """Each entry's stamp, None where ``get`` would find none: which entry a key holds
        now, without fetching its value (the page memo checks its pages with these)."""
        ...

    async def put(
        self, key: str, entry: CacheEntry, tags: tuple[str, ...], versions: tuple[int, ...]
    ) -> bool:
        """Store ``entry`` unless one of ``tags`` was evicted since ``versions`` were read."""
        ...

    async def evict(self, tags: Iterable[str]) -> int:
        """Drop every entry carrying one of ``tags``; how many were dropped."""
        ...

    async def lock(self, key: str, ttl_s: float) -> bool:
        """Take the cross-process fill lock of ``key``; False when another process holds it."""
        ...

    async def unlock(self, key: str) -> None: ...

    async def locked(self, key: str) -> bool: ...

    async def close(self) -> None: ...


# What an entry costs beyond its value's bytes: its key and tags (counted by length) and about
# 700 bytes: ~520 for the entry objects, the ordered map and the tag index (CPython 3.11), and
# ~130 that a million keys churning through the store leave in the allocator per entry kept
# (`python -m bench.memory_store` measures the whole process). Counting little more than the
# value, a store of order-sized entries grew the process to twice ``max_bytes``; counting 480,
# to 1.1 times.
ENTRY_OVERHEAD_BYTES = 700


@dataclass(frozen=True, slots=True)
class _Held:
    """An entry as the memory store keeps it: with its tags and what it counts for."""

    entry: CacheEntry
    tags: tuple[str, ...]
    size: int


class _TaggedLRU:
    """Entries bounded by their total size, least recently used dropped first (one ordered
    map, where cachetools' LRUCache keeps three); dropping a key forgets its tags."""

    def __init__(self, max_bytes: int, on_drop: Callable[[str, _Held], None]) -> None:
        self.maxsize = max_bytes
        self.currsize = 0
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._on_drop = on_drop

    def __len__(self) -> int:
        return len(self._held)

    def get(self, key: str) -> _Held | None:
        held = self._held.get(key)
        if held is not None:
            self._held.move_to_end(key)
        return held

    def put(self, key: str, held: _Held) -> bool:
        """Keep ``held`` under ``key`` (absent), dropping the oldest entries to make room;
        False when it alone is larger than the bound."""
        if held.size > self.maxsize:
            return False
        while self.currsize + held.size > self.maxsize:
            self.popitem()
        self._held[key] = held
        self.currsize += held.size
        return True

    def pop(self, key: str) -> _Held | None:
        held = self._held.pop(key, None)
        if held is not None:
            self.currsize -= held.size
        return held

    def popitem(self) -> tuple[str, _Held]:
        key, held = self._held.popitem(last=False)
        self.currsize -= held.size
        self._on_drop(key, held)
        return key, held

    def clear(self) -> None:
        self._held.clear()
        self.currsize = 0


class MemoryReadCache:
    """The in-process store: bounded by entries and by bytes, least recently used dropped first."""

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._entries = _TaggedLRU(max_bytes, self._forget)
        self._max_entries = max_entries
        # tag -> the key carrying it, or the set of keys when several do: most tags (an
        # order's) have one key, and a set of one would cost more than the entry's key.
        self._keys_of: dict[str, str | set[str]] = {}
        self._versions: dict[str, int] = {}
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> CacheEntry | None:
        held = self._entries.get(key)
        if held is None:
            return None
        if held.entry.stale_until <= self._clock():
            self._drop(key)
            return None
        return held.entry

    async def versions(self, tags: Iterable[str]) -> tuple[int, ...]:
        return tuple(self._versions.get(tag, 0) for tag in tags)

    async def stamps(self, keys: Sequence[str]) -> list[Stamp | None]:
        return [None if (entry := await self.get(key)) is None else entry.stamp for key in keys]

    async def put(
        self, key: str, entry: CacheEntry, tags: tuple[str, ...], versions: tuple[int, ...]
    ) -> bool:
        if await self.versions(tags) != versions:
            return False
        self._drop(key)
        size = len(entry.value) + len(key) + sum(len(tag) for tag in tags) + ENTRY_OVERHEAD_BYTES
        if not self._entries.put(key, _Held(entry, tags, size)):
            return False  # larger than the whole byte bound: not worth keeping
        for tag in tags:
            keys = self._keys_of.get(tag)
            if keys is None:
                self._keys_of[tag] = key
            elif isinstance(keys, set):
                keys.add(key)
            elif keys != key:
                self._keys_of[tag] = {keys, key}
        while len(self._entries) > self._max_entries:
            self._entries.popitem()
        return True

    async def evict(self, tags: Iterable[str]) -> int:
        dropped = 0
        for tag in tags:
            self._versions[tag] = self._versions.get(tag, 0) + 1
            keys = self._keys_of.get(tag)
            for key in [keys] if isinstance(keys, str) else list(keys or ()):
                dropped += self._drop(key)
        return dropped

    async def lock(self, key: str, ttl_s: float) -> bool:
        return True  # one process: ReadThrough's own futures already make one call per key

    async def unlock(self, key: str) -> None:
        return None

    async def locked(self, key: str) -> bool:
        return False

    async def close(self) -> None:
        return None

    def clear(self) -> None:
        self._entries.clear()
        self._keys_of.clear()

    def _drop(self, key: str) -> int:
        held = self._entries.pop(key)
        if held is None:
            return 0
        self._forget(key, held)
        return 1

    def _forget(self, key: str, held: _Held) -> None:
        for tag in held.tags:
            keys = self._keys_of.get(tag)
            if keys == key:
                del self._keys_of[tag]
            elif isinstance(keys, set):
                keys.discard(key)
                if not keys:
                    del self._keys_of[tag]


@dataclass(slots=True)
class ReadLedger:
    """The reads of one request: whether the caller asked to refetch, and what each got."""

    refresh: bool = False
    reads: dict[str, list[ReadOutcome]] = field(default_factory=dict)

    def note(self, instance: str, outcome: ReadOutcome) -> None:
        self.reads.setdefault(instance, []).append(outcome)

    def sources(self, instance: str) -> list[ReadSource]:
        return [read.source for read in self.reads.get(instance, ())]


_LEDGER: ContextVar[ReadLedger | None] = ContextVar("read_ledger", default=None)


@contextmanager
def reading(*, refresh: bool = False) -> Iterator[ReadLedger]:
    """Collect what this request's reads were answered from (and refetch all with ``refresh``)."""
    ledger = ReadLedger(refresh=refresh)
    token = _LEDGER.set(ledger)
    try:
        yield ledger
    finally:
        _LEDGER.reset(token)


def current_ledger() -> ReadLedger | None:
    return _LEDGER.get()


class ReadThrough:
    """Answers reads from a store, filling it from the upstream one call per key at a time."""

    def __init__(self, store: ReadCache, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock
        self._flights: dict[str, asyncio.Future[tuple[bytes, ReadOutcome]]] = {}

    async def read(
        self,
        key: str,
        fetch: Callable[[], Awaitable[bytes]],
        *,
        ttl_s: float,
        stale_s: float,
        tags: tuple[str, ...],
    ) -> tuple[bytes, ReadOutcome]:
        """The value for ``key``: cached while fresh, else fetched (once, however many ask)."""
        ledger = current_ledger()
        refresh = ledger is not None and ledger.refresh
        cached = await self.store.get(key)
        now = self._clock()
        if cached is not None and not refresh and now < cached.fresh_until:
            return cached.value, _outcome("hit", key, cached, now)
        flight = self._flights.get(key)
        if flight is not None:
            try:
                value, outcome = await asyncio.shield(flight)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if flight.cancelled() and task is not None and not task.cancelling():
                    # The caller that was fetching gave up (its own deadline); fetch ourselves.
                    return await self.read(key, fetch, ttl_s=ttl_s, stale_s=stale_s, tags=tags)
                raise
            return value, replace(outcome, source="collapsed")
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            result = await self._fill(
                key, fetch, cached, ttl_s=ttl_s, stale_s=stale_s, tags=tags, refresh=refresh
            )
        except asyncio.CancelledError:
            flight.cancel()
            raise
        except BaseException as exc:
            flight.set_exception(exc)
            flight.exception()  # retrieved here, so an unawaited failure logs no warning
            raise
        else:
            flight.set_result(result)
            return result
        finally:
            del self._flights[key]

    async def _fill(
        self,
        key: str,
        fetch: Callable[[], Awaitable[bytes]],
        cached: CacheEntry | None,
        *,
        ttl_s: float,
        stale_s: float,
        tags: tuple[str, ...],
        refresh: bool,
    ) -> tuple[bytes, ReadOutcome]:
        asked_at = self._clock()
        locked = await self.store.lock(key, FILL_LOCK_S)
        try:
            if not locked and not refresh:
                filled = await self._wait_for_other_process(key, asked_at)
                if filled is not None:
                    now = self._clock()
                    return filled.value, _outcome("collapsed", key, filled, now)
            versions = await self.store.versions(tags)
            try:
                value = await fetch()
            except UpstreamError:
                now = self._clock()
                if cached is not None and now < cached.stale_until:
                    return cached.value, _outcome("stale", key, cached, now)
                raise
            now = self._clock()
            entry = CacheEntry(value, now, now + ttl_s, now + ttl_s + stale_s)
            stored = await self.store.put(key, entry, tags, versions)
            # Refused (a write evicted the tags meanwhile): this answer is no cache entry.
            source: ReadSource = "refresh" if refresh else "miss"
            return value, ReadOutcome(source, 0.0, ttl_s, key if stored else None, now)
        finally:
            if locked:
                await self.store.unlock(key)

    async def _wait_for_other_process(self, key: str, asked_at: float) -> CacheEntry | None:
        """Another process is filling ``key``: wait for its entry, or for its lock to go."""
        deadline = asyncio.get_running_loop().time() + FILL_LOCK_S
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(FILL_POLL_S)
            entry = await self.store.get(key)
            if self._filled_since(entry, asked_at):
                return entry
            if not await self.store.locked(key):
                # The holder stores before it unlocks: it may have done both since our get.
                entry = await self.store.get(key)
                return entry if self._filled_since(entry, asked_at) else None
        return None

    def _filled_since(self, entry: CacheEntry | None, asked_at: float) -> bool:
        return (
            entry is not None
            and entry.stored_at >= asked_at - FILL_LOCK_S
            and entry.fresh_until > self._clock()
        )


def _outcome(source: ReadSource, key: str | None, entry: CacheEntry, now: float) -> ReadOutcome:
    return ReadOutcome(source, now - entry.stored_at, entry.fresh_until - now, key, entry.stored_at)


def merge_outcomes(outcomes: Mapping[str, list[ReadOutcome]]) -> ReadOutcome | None:
    """One summary of many reads: stale if any was, a miss if any was fetched, else a hit."""
    every = [o for reads in outcomes.values() for o in reads]
    if not every:
        return None
    ttl = min(o.ttl_left_s for o in every)
    age = max(o.age_s for o in every)
    sources = {o.source for o in every}
    for source in ("stale", "bypass", "refresh", "miss", "collapsed"):
        if source in sources:
            return ReadOutcome(source, age, ttl)
    return ReadOutcome("hit", age, ttl)
