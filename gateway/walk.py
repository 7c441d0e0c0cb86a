"""One instance's progress through one list request: planning, fetching, and its resume point.

Three ways to walk an upstream, chosen from its capabilities:

- keyset: the upstream sorts natively and can filter by the sort field in the walking
  direction; each fetch asks for orders from the last one seen on, pushed down as a bound.
- paged: the upstream sorts natively but cannot bound by the field; the walk follows the
  upstream's own page tokens, re-reads the page that held the last order emitted, and drops
  what it already emitted (inserts shift pages; the re-read absorbs that).
- scan: the upstream cannot sort by the field; every page is read (bounded) and sorted here.

Runs of equal sort values are never split: a chunk's trailing run is held back until the
next chunk shows where it ends, because upstreams order ties their own way.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from gateway.adapters.base import ListChunk, ListRequest, ProviderAdapter
from gateway.errors import GatewayError, InvalidCursorError, ScanLimitError
from gateway.merge import (
    OrderKey,
    comes_after,
    complete_prefix,
    later,
    matches,
    order_key,
    sort_orders,
    sort_value,
)
from gateway.models import Order, ProblemBody, ProviderReport
from gateway.query import Filters, OrderQuery, SortKey

ONE_MICROSECOND = timedelta(microseconds=1)
MAX_SCAN_CALLS = 20  # upstream pages one fetch may read (scan, or one long run of a timestamp)
DONE = "done"
MIN_PAGED_SIZE = 20
FILTER_NAMES = ("status", "provider_status", "customer", "service", "created_after", "created_before",
                "updated_after", "q")  # fmt: skip
_SET_FILTERS = {"status": "statuses", "provider_status": "provider_statuses"}
# The filter that bounds each sort from the resume point on, in the walking direction.
_BOUNDS = {
    SortKey.CREATED_ASC: "created_after",
    SortKey.CREATED_DESC: "created_before",
    SortKey.UPDATED_ASC: "updated_after",
}


class Mode(enum.Enum):
    KEYSET = "keyset"
    PAGED = "paged"
    SCAN = "scan"


@dataclass(frozen=True, slots=True)
class Plan:
    """How one instance answers a query: which filters it applies, which the gateway does."""

    pushed: Filters
    local: Filters
    pushed_names: tuple[str, ...]
    local_names: tuple[str, ...]
    mode: Mode


def plan_for(adapter: ProviderAdapter, query: OrderQuery) -> Plan:
    """Split the query's filters into pushed-down and local ones, and choose the walk."""
    caps = adapter.capabilities
    used = query.filters.names()
    pushed_names = tuple(n for n in used if n in caps.filters)
    local_names = tuple(n for n in used if n not in caps.filters or n in caps.inexact_filters)
    if query.sort not in caps.sorts:
        mode = Mode.SCAN
    elif _BOUNDS.get(query.sort) in caps.filters:
        mode = Mode.KEYSET
    else:
        mode = Mode.PAGED
    return Plan(
        pushed=_only(query.filters, pushed_names),
        local=_only(query.filters, local_names),
        pushed_names=pushed_names,
        local_names=local_names,
        mode=mode,
    )


def _only(filters: Filters, names: tuple[str, ...]) -> Filters:
    cleared: dict[str, Any] = {}
    for name in FILTER_NAMES:
        if name not in names:
            attribute = _SET_FILTERS.get(name, name)
            cleared[attribute] = frozenset() if name in _SET_FILTERS else None
    return replace(filters, **cleared)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a walk resumes: after this order key, re-reading from this upstream page token."""

    after: OrderKey | None = None
    page: str | None = None
    size: int | None = None  # page tokens are only valid with the page size they came from
    prev: tuple[str | None, ...] = ()  # (token of the page before ``page``,), or () if unknown

    def encode(self) -> dict[str, Any]:
        after = None if self.after is None else [self.after[0].isoformat(), self.after[1]]
        return {"after": after, "page": self.page, "size": self.size, "prev": list(self.prev) or None}

    @classmethod
    def decode(cls, value: Any) -> Position:
        try:
            after, page, size, prev = value["after"], value["page"], value["size"], value["prev"]
            key = None if after is None else (datetime.fromisoformat(after[0]), str(after[1]))
            if key is not None and key[0].tzinfo is None:
                raise ValueError("naive")
            if page is not None and not isinstance(page, str):
                raise TypeError("page")
            if size is not None and (not isinstance(size, int) or size < 1):
                raise TypeError("size")
            if prev is not None and (len(prev) != 1 or not (prev[0] is None or isinstance(prev[0], str))):
                raise TypeError("prev")
        except (TypeError, ValueError, KeyError, IndexError):
            raise InvalidCursorError("The cursor is malformed.") from None
        return cls(after=key, page=page, size=size, prev=tuple(prev or ()))


@dataclass(slots=True)
class Walk:
    """One instance's state during one list request."""

    adapter: ProviderAdapter
    plan: Plan
    query: OrderQuery
    start: Position
    buffer: deque[Order] = field(default_factory=deque)
    upstream_more: bool = True
    calls: int = 0
    ms: int = 0
    emitted: OrderKey | None = None
    error: GatewayError | None = None
    call_limit_reached: bool = False
    frontier: OrderKey | None = None  # keyset: fetched (buffered or emitted) up to here
    carry: list[Order] = field(default_factory=list)  # paged: trailing run held back
    tokens: list[str | None] = field(default_factory=list)  # paged: page tokens read, in order
    page_of: dict[str, int] = field(default_factory=dict)  # paged: order id → index in tokens
    emitted_page: int | None = None  # paged: index of the page of the last order emitted
    next_token: str | None = None  # paged: the page to read next
    first_prev: tuple[str | None, ...] = ()  # paged: (token of the page before tokens[0],) if known

    def __post_init__(self) -> None:
        self.frontier = self.start.after
        self.next_token = self.start.page
        self.first_prev = self.start.prev

    @property
    def sort(self) -> SortKey:
        return self.query.sort

    @property
    def page_size(self) -> int:
        """Paged walks keep one page size for the whole walk (the cursor carries it): about a
        page of ours, or the largest when local filters will drop orders."""
        if self.start.size is not None:
            return min(self.start.size, self.adapter.capabilities.max_page_size)
        largest = self.adapter.capabilities.max_page_size
        # Not too small either: deleting more orders than a page holds between two requests
        # is what could make the re-read page miss one.
        return largest if self.plan.local_names else min(largest, max(self.query.limit + 1, MIN_PAGED_SIZE))

    def take(self) -> Order:
        """The next order of this instance's buffer, marked as emitted."""
        order = self.buffer.popleft()
        self.emitted = order_key(order, self.sort)
        if order.id in self.page_of:
            self.emitted_page = self.page_of[order.id]
        return order

    async def fetch(self) -> None:
        if self.plan.mode is Mode.KEYSET:
            await self._fetch_keyset()
        elif self.plan.mode is Mode.PAGED:
            await self._fetch_paged()
        else:
            await self._scan()

    async def _list(self, filters: Filters, page_size: int, position: str | None) -> Any:
        self.calls += 1
        return await self.adapter.list_orders(
            ListRequest(filters=filters, sort=self.sort, page_size=page_size, position=position)
        )

    async def _fetch_keyset(self) -> None:
        """Ask for orders from the frontier on, pushed down as an inclusive bound.

        When a chunk brings nothing new and complete (a long run of one timestamp, read again
        because the bound is inclusive), the same query is read on by page token at the
        largest page size: within one request's short window that is safe enough.
        """
        sort, largest = self.sort, self.adapter.capabilities.max_page_size
        filters = _bounded(self.plan.pushed, self.frontier, sort)
        page_size = largest if self.plan.local_names else min(largest, self.query.limit + 1)
        collected: dict[str, Order] = {}
        position: str | None = None
        for _ in range(MAX_SCAN_CALLS):
            chunk = await self._list(filters, page_size, position)
            collected.update((o.id, o) for o in chunk.orders)
            self.upstream_more = chunk.next_position is not None
            ordered = sort_orders(collected.values(), sort)
            complete = complete_prefix(ordered, sort) if self.upstream_more else ordered
            fresh = [o for o in complete if comes_after(order_key(o, sort), self.frontier, sort)]
            if fresh or not self.upstream_more:
                break
            if page_size < largest:
                page_size, position = largest, None  # read the run again in larger pages
            else:
                position = chunk.next_position
        else:
            raise ScanLimitError(
                f"More than {MAX_SCAN_CALLS} upstream pages of orders share one {sort.field}.",
                provider=self.adapter.instance,
            )
        if complete:
            self.frontier = order_key(complete[-1], sort)
        self.buffer.extend(o for o in fresh if matches(o, self.plan.local))

    async def _fetch_paged(self) -> None:
        """Read the next upstream page; hold back its trailing run until the next shows its end.

        On the first read of a resumed walk, a page that does not start strictly before the
        resume point may have lost orders to the page before (upstream deletions shift
        orders up): that page is read first, when its token is known.
        """
        sort = self.sort
        token = self.next_token
        chunk = await self._list(self.plan.pushed, self.page_size, token)
        if not self.tokens and self.start.after is not None and self.start.prev:
            # Safe only when the page starts strictly before the resume point's sort value:
            # then whatever precedes it was emitted (ties may come in any order).
            first = chunk.orders[0] if chunk.orders else None
            if first is None or not _strictly_before(sort_value(first, sort), self.start.after[0], sort):
                self.first_prev = ()
                self._absorb(
                    self.start.prev[0], await self._list(self.plan.pushed, self.page_size, self.start.prev[0])
                )
        self._absorb(token, chunk)

    def _absorb(self, token: str | None, chunk: ListChunk) -> None:
        sort = self.sort
        index = len(self.tokens)
        self.tokens.append(token)
        fresh = [
            o
            for o in chunk.orders
            if o.id not in self.page_of and comes_after(order_key(o, sort), self.start.after, sort)
        ]
        for order in fresh:
            self.page_of[order.id] = index
        self.upstream_more = chunk.next_position is not None
        self.next_token = chunk.next_position
        combined = sort_orders([*self.carry, *fresh], sort)
        complete = complete_prefix(combined, sort) if self.upstream_more else combined
        self.carry = list(combined[len(complete) :])
        self.buffer.extend(o for o in complete if matches(o, self.plan.local))

    async def _scan(self) -> None:
        """Read every page (bounded) and sort here: for sorts the upstream cannot do itself."""
        sort = self.sort
        collected: dict[str, Order] = {}  # page-number paging may repeat rows
        position: str | None = None
        for _ in range(MAX_SCAN_CALLS):
            chunk = await self._list(self.plan.pushed, self.adapter.capabilities.max_page_size, position)
            collected.update((o.id, o) for o in chunk.orders)
            position = chunk.next_position
            if position is None:
                break
        else:
            raise ScanLimitError(
                f"Sorting by {sort.field} needs more than {MAX_SCAN_CALLS} upstream pages; narrow the filters.",
                provider=self.adapter.instance,
            )
        self.upstream_more = False
        self.buffer.extend(
            o
            for o in sort_orders(collected.values(), sort)
            if comes_after(order_key(o, sort), self.start.after, sort) and matches(o, self.plan.local)
        )

    def needs_fetch(self) -> bool:
        return self.error is None and not self.buffer and self.upstream_more

    def next_position(self, merged_to: OrderKey | None) -> Any:
        """Where the next page resumes this instance: every match up to there was emitted.

        ``merged_to`` is the last order of the whole page. A healthy instance holds nothing
        unemitted before it (the merge always takes the earliest head), so it resumes no
        earlier: orders created meanwhile before that point are not slipped in out of order.
        A failed instance resumes where it stood, so nothing it holds is skipped.
        """
        after = self.emitted or self.start.after
        if self.error is None:
            after = later(after, merged_to, self.sort)
        if self.plan.mode is Mode.PAGED:
            return self._next_paged_position(after)
        if self.error is not None or self.buffer:
            return Position(after, None).encode()
        if self.upstream_more:
            resume = later(self.frontier, after, self.sort) if self.plan.mode is Mode.KEYSET else after
            return Position(resume, None).encode()
        return DONE

    def _next_paged_position(self, after: OrderKey | None) -> Any:
        remaining = [self.page_of[o.id] for o in self._unemitted()]
        if not remaining and not self.upstream_more and self.error is None:
            return DONE
        if not self.tokens:  # nothing read in this request: resume as we came
            return Position(after, self.start.page, self.page_size, self.start.prev).encode()
        # Resume at the page holding the first order still waiting or the last one emitted
        # (else at the next page to read), remembering the page before it for the check above.
        candidates = remaining + ([self.emitted_page] if self.emitted_page is not None else [])
        earliest = min(candidates) if candidates else len(self.tokens)
        return Position(
            after, self._token_at(earliest)[0], self.page_size, self._token_at(earliest - 1)
        ).encode()

    def _token_at(self, index: int) -> tuple[str | None, ...]:
        """(token,) of the index-th page of this request's reading order, () when unknown:
        -1 is the page before the first one read, len(tokens) the next unread page."""
        if 0 <= index < len(self.tokens):
            return (self.tokens[index],)
        if index == len(self.tokens):
            return (self.next_token,)
        if index == -1:
            return self.first_prev
        return ()

    def _unemitted(self) -> Iterable[Order]:
        yield from self.buffer
        yield from self.carry

    def report(self) -> ProviderReport:
        if self.error is not None:
            error = self.error
            problem = ProblemBody(
                type=error.type_uri, title=error.title, status=error.status_code, detail=error.detail,
                **{k: v for k, v in error.extensions.items() if k != "provider"},
            )  # fmt: skip
            return ProviderReport(status="error", ms=self.ms, error=problem)
        return ProviderReport(
            status="ok",
            ms=self.ms,
            filters_pushed_down=self.plan.pushed_names,
            filters_applied_locally=self.plan.local_names,
            call_limit_reached=self.call_limit_reached,
        )


def _strictly_before(value: datetime, other: datetime, sort: SortKey) -> bool:
    """Whether ``value`` comes before ``other`` in the walking direction (ties do not)."""
    return value > other if sort.descending else value < other


def _bounded(filters: Filters, frontier: OrderKey | None, sort: SortKey) -> Filters:
    """Push the resume point down as an inclusive bound (ties are dropped after the fetch)."""
    if frontier is None:
        return filters
    at = frontier[0]
    if sort is SortKey.CREATED_DESC:
        bound = at + ONE_MICROSECOND  # created_before is exclusive
        current = filters.created_before
        return replace(filters, created_before=bound if current is None else min(current, bound))
    if sort is SortKey.CREATED_ASC:
        current = filters.created_after
        return replace(filters, created_after=at if current is None else max(current, at))
    current = filters.updated_after
    return replace(filters, updated_after=at if current is None else max(current, at))
