"""Listing pages recently answered from the read cache, reused while those cache entries stand.

A page built wholly from cached reads is a function of the caller, the query (its cursor
included) and the entries it was built from. Building it again (walks, merge, narrowing each
order's actions) costs far more than looking those few entries up, so a reused page is
checked against the store on every request: an eviction by a write on any replica, an
expiry, or a refill with newer answers each end it there and then. Only the cursor is signed
anew, so it carries the time of this request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache

from gateway.cache import ReadCache
from gateway.models import Order, ProviderReport, ReadOutcome
from gateway.query import OrderQuery

# Counted in orders, not pages (a page of 200 keeps four times what one of 50 does): enough
# for the first pages of a few hot listings per key. A remembered page keeps its orders
# alive, the read cache's decoded ones or the copies narrowed for its caller.
PAGE_MEMO_ORDERS = 2_000
CACHED_SOURCES = frozenset({"hit", "miss", "refresh", "collapsed"})


@dataclass(frozen=True, slots=True)
class CachedRead:
    """One read a page was built from: which instance, which cache entry (key, stored_at)."""

    instance: str
    key: str
    stored_at: float


@dataclass(frozen=True, slots=True)
class RememberedPage:
    data: tuple[Order, ...]
    positions: Mapping[str, Any] | None  # each instance's resume point; None: the last page
    fingerprint: str  # the query's, for the cursors signed anew
    providers: Mapping[str, ProviderReport]  # as a reuse reports them (from the cache)
    reads: tuple[CachedRead, ...]


def cached_reads(reads: Mapping[str, list[ReadOutcome]]) -> tuple[CachedRead, ...] | None:
    """The entries behind a request's reads, or None when any read was not one stored entry."""
    found = []
    for instance, outcomes in reads.items():
        for outcome in outcomes:
            if outcome.source not in CACHED_SOURCES or outcome.key is None or outcome.stored_at is None:
                return None
            found.append(CachedRead(instance, outcome.key, outcome.stored_at))
    return tuple(found)


class PageMemo:
    def __init__(
        self, store: ReadCache, clock: Callable[[], float], *, max_orders: int = PAGE_MEMO_ORDERS
    ) -> None:
        self._store = store
        self._clock = clock
        self._pages: LRUCache[tuple[str, OrderQuery], RememberedPage] = LRUCache(
            maxsize=max_orders, getsizeof=lambda page: max(1, len(page.data))
        )

    def remember(self, principal: str, query: OrderQuery, page: RememberedPage) -> None:
        self._pages[(principal, query)] = page

    async def recall(
        self, principal: str, query: OrderQuery
    ) -> tuple[RememberedPage, list[tuple[str, ReadOutcome]]] | None:
        """The page for this caller and query if every entry it came from is still stored and
        fresh, with each read as a cache hit now; else None (and the page is forgotten)."""
        held = self._pages.get((principal, query))
        if held is None:
            return None
        stamps = await self._store.stamps([read.key for read in held.reads])
        now = self._clock()
        hits: list[tuple[str, ReadOutcome]] = []
        for read, stamp in zip(held.reads, stamps, strict=True):
            if stamp is None or stamp.stored_at != read.stored_at or now >= stamp.fresh_until:
                self._pages.pop((principal, query), None)
                return None
            age, ttl_left = now - stamp.stored_at, stamp.fresh_until - now
            hits.append((read.instance, ReadOutcome("hit", age, ttl_left, read.key, read.stored_at)))
        return held, hits
