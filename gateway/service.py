"""OrderService: which instances a caller may use, planning, fan-out and merge of listings, reads."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from gateway.adapters.base import ListRequest, ProviderAdapter
from gateway.cursor import CursorSigner, CursorState
from gateway.errors import (
    AllUpstreamsFailedError,
    GatewayError,
    InvalidCursorError,
    InvalidQueryError,
    OrderNotFoundError,
    ScanLimitError,
    UpstreamTimeoutError,
)
from gateway.fanout import fan_out
from gateway.merge import OrderKey, comes_after, complete_prefix, matches, order_key, sort_orders
from gateway.models import Health, Order, OrderPage, ProblemBody, ProviderReport, split_order_id
from gateway.principal import Principal
from gateway.query import Filters, OrderQuery, SortKey

ONE_MICROSECOND = timedelta(microseconds=1)
MAX_CALLS_PER_INSTANCE = 5  # upstream calls one page may make at one instance to fill itself
MAX_SCAN_CALLS = 20  # pages read at one instance when the sort must be done by the gateway
DONE = "done"
FILTER_NAMES = ("status", "provider_status", "customer", "service", "created_after", "created_before",
                "updated_after", "q")  # fmt: skip
_EMPTY_FIELDS = {"status": "statuses", "provider_status": "provider_statuses"}


@dataclass(frozen=True, slots=True)
class Plan:
    """How one instance answers a query: which filters it applies and which the gateway does."""

    pushed: Filters
    local: Filters
    pushed_names: tuple[str, ...]
    local_names: tuple[str, ...]
    native_sort: bool


@dataclass(slots=True)
class _Walk:
    """One instance's progress through one list request."""

    adapter: ProviderAdapter
    plan: Plan
    frontier: OrderKey | None  # everything up to here was fetched (and buffered or emitted)
    buffer: deque[Order] = field(default_factory=deque)
    upstream_more: bool = True
    calls: int = 0
    ms: int = 0
    emitted: OrderKey | None = None
    error: GatewayError | None = None
    started_at: OrderKey | None = None


class OrderService:
    """The use cases behind the routes; knows nothing of HTTP."""

    def __init__(
        self,
        adapters: Mapping[str, ProviderAdapter],
        signer: CursorSigner,
        *,
        budget_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._adapters = dict(adapters)
        self._signer = signer
        self._budget_s = budget_s
        self._clock = clock

    def visible(self, principal: Principal) -> dict[str, ProviderAdapter]:
        """The instances this caller may use; the others do not exist for it."""
        return {name: a for name, a in self._adapters.items() if principal.can_see(name)}

    async def get_order(self, principal: Principal, order_id: str) -> Order:
        """One order by global id; 404 for unknown ids and for instances the caller may not see."""
        parts = split_order_id(order_id)
        adapter = self.visible(principal).get(parts[0]) if parts else None
        if parts is None or adapter is None:
            raise OrderNotFoundError("No such order.")
        return await adapter.get_order(parts[1])

    async def health(self, principal: Principal | None) -> dict[str, Health]:
        """Each instance's reachability (all instances when ``principal`` is None)."""
        adapters = self._adapters if principal is None else self.visible(principal)
        outcomes = await fan_out({n: a.check_health for n, a in adapters.items()}, self._budget_s)
        return {
            name: o.value if o.value is not None else Health(status="error", ms=o.ms, error="timeout")
            for name, o in outcomes.items()
        }

    async def list_orders(self, principal: Principal, query: OrderQuery) -> OrderPage:
        """One page of the merged, filtered, sorted listing over the caller's instances."""
        adapters = self._select(principal, query)
        positions = self._positions(principal, query)
        walks = {
            name: _Walk(adapter=a, plan=plan_for(a, query), frontier=_decode_position(positions.get(name)))
            for name, a in adapters.items()
            if positions.get(name) != DONE
        }
        for walk in walks.values():
            walk.started_at = walk.frontier
        page, bounded = await self._fill(walks, query)
        failures = [w.error for w in walks.values() if w.error is not None]
        if failures and (query.require_all or len(failures) == len(walks)):
            if query.require_all and len(failures) < len(walks):
                raise failures[0]
            raise AllUpstreamsFailedError(
                "No provider could answer.",
                all_timed_out=all(isinstance(e, UpstreamTimeoutError) for e in failures),
            )
        next_positions = {name: _next_position(w) for name, w in walks.items()}
        done = {name: DONE for name in adapters if name not in walks}
        has_more = any(p != DONE for p in next_positions.values())
        cursor = None
        if has_more:
            cursor = self._signer.sign(
                CursorState(
                    fingerprint=query.fingerprint,
                    principal=principal.name,
                    issued_at=int(self._clock()),
                    positions={**done, **next_positions},
                )
            )
        return OrderPage(
            data=tuple(page),
            next_cursor=cursor,
            has_more=has_more,
            providers={name: _report(w, bounded) for name, w in walks.items()}
            | {name: ProviderReport(status="ok", ms=0) for name in done},
        )

    def _select(self, principal: Principal, query: OrderQuery) -> dict[str, ProviderAdapter]:
        visible = self.visible(principal)
        unknown = sorted(query.providers - visible.keys())
        if unknown:
            # Unknown and hidden instances answer alike, so the answer tells nothing of the latter.
            raise InvalidQueryError(f"Unknown provider '{unknown[0]}'.", parameter="provider")
        if query.providers:
            return {n: a for n, a in visible.items() if n in query.providers}
        return visible

    def _positions(self, principal: Principal, query: OrderQuery) -> Mapping[str, Any]:
        if query.cursor is None:
            return {}
        state = self._signer.verify(
            query.cursor, fingerprint=query.fingerprint, principal=principal.name, now=int(self._clock())
        )
        for value in state.positions.values():
            if value != DONE:
                _decode_position(value)
        return state.positions

    async def _fill(self, walks: dict[str, _Walk], query: OrderQuery) -> tuple[list[Order], bool]:
        """Merge instances' buffers into one page, fetching more where a buffer runs dry."""
        page: list[Order] = []
        deadline = time.monotonic() + self._budget_s
        bounded = False
        while len(page) < query.limit:
            dry = [w for w in walks.values() if w.error is None and not w.buffer and w.upstream_more]
            if dry:
                if any(w.calls >= MAX_CALLS_PER_INSTANCE for w in dry):
                    bounded = True  # that instance may hold the next order: stop the page here
                    break
                remaining = deadline - time.monotonic()
                outcomes = await fan_out(
                    {w.adapter.instance: _fetcher(w, query) for w in dry}, max(remaining, 0.001)
                )
                for outcome in outcomes.values():
                    walk = walks[outcome.instance]
                    walk.ms += outcome.ms
                    walk.error = outcome.error
                continue
            heads = [w for w in walks.values() if w.error is None and w.buffer]
            if not heads:
                break
            pick = min if not query.sort.descending else max
            best = pick(heads, key=lambda w: order_key(w.buffer[0], query.sort))
            order = best.buffer.popleft()
            best.emitted = order_key(order, query.sort)
            page.append(order)
        return page, bounded


def plan_for(adapter: ProviderAdapter, query: OrderQuery) -> Plan:
    """Split the query's filters into those the upstream applies and those the gateway applies."""
    caps = adapter.capabilities
    used = query.filters.names()
    pushed_names = tuple(n for n in used if n in caps.filters)
    local_names = tuple(n for n in used if n not in caps.filters or n in caps.inexact_filters)
    return Plan(
        pushed=_only(query.filters, pushed_names),
        local=_only(query.filters, local_names),
        pushed_names=pushed_names,
        local_names=local_names,
        native_sort=query.sort in caps.sorts and {"created_after", "created_before"} <= caps.filters,
    )


def _only(filters: Filters, names: tuple[str, ...]) -> Filters:
    cleared: dict[str, Any] = {}
    for name in FILTER_NAMES:
        if name not in names:
            attribute = _EMPTY_FIELDS.get(name, name)
            cleared[attribute] = frozenset() if attribute in _EMPTY_FIELDS.values() else None
    return replace(filters, **cleared)


def _fetcher(walk: _Walk, query: OrderQuery) -> Callable[[], Any]:
    async def fetch() -> None:
        if walk.plan.native_sort:
            await _fetch_native(walk, query)
        else:
            await _scan(walk, query)

    return fetch


async def _fetch_native(walk: _Walk, query: OrderQuery) -> None:
    """One keyset step: ask for orders from the frontier on, pushed down as a time bound.

    When a chunk brings nothing new and complete (a long run of one timestamp, re-read
    because the bound is inclusive), the same query is read on by page number at the
    largest page size: within one request's short window page numbers are safe enough.
    """
    adapter, sort = walk.adapter, query.sort
    filters = _bounded(walk.plan.pushed, walk.frontier, sort)
    largest = adapter.capabilities.max_page_size
    wide = bool(walk.plan.local_names)  # local filters drop orders: read full upstream pages
    page_size = largest if wide else min(largest, query.limit + 1)
    collected: dict[str, Order] = {}
    position: str | None = None
    for _ in range(MAX_SCAN_CALLS):
        walk.calls += 1
        chunk = await adapter.list_orders(
            ListRequest(filters=filters, sort=sort, page_size=page_size, position=position)
        )
        collected.update((o.id, o) for o in chunk.orders)
        walk.upstream_more = chunk.next_position is not None
        ordered = sort_orders(collected.values(), sort)
        complete = complete_prefix(ordered, sort) if walk.upstream_more else ordered
        fresh = [o for o in complete if comes_after(order_key(o, sort), walk.frontier, sort)]
        if fresh or not walk.upstream_more:
            break
        if page_size < largest:
            page_size, position = largest, None  # read the run again in larger pages
        else:
            position = chunk.next_position
    else:
        raise ScanLimitError(
            f"More than {MAX_SCAN_CALLS} upstream pages of orders share one {sort.field}.",
            provider=adapter.instance,
        )
    if complete:
        walk.frontier = order_key(complete[-1], sort)
    walk.buffer.extend(o for o in fresh if matches(o, walk.plan.local))


async def _scan(walk: _Walk, query: OrderQuery) -> None:
    """Read every page (bounded) and sort here: for sorts the upstream cannot do itself."""
    adapter, sort = walk.adapter, query.sort
    collected: list[Order] = []
    position: str | None = None
    for _ in range(MAX_SCAN_CALLS):
        walk.calls += 1
        chunk = await adapter.list_orders(
            ListRequest(filters=walk.plan.pushed, sort=sort, page_size=adapter.capabilities.max_page_size,
                        position=position)
        )  # fmt: skip
        collected.extend(chunk.orders)
        position = chunk.next_position
        if position is None:
            break
    else:
        raise ScanLimitError(
            f"Sorting by {sort.field} needs more than {MAX_SCAN_CALLS} upstream pages; narrow the filters.",
            provider=adapter.instance,
        )
    unique = {o.id: o for o in collected}.values()  # page-number paging may repeat rows
    walk.upstream_more = False
    walk.buffer.extend(
        o
        for o in sort_orders(unique, sort)
        if comes_after(order_key(o, sort), walk.frontier, sort) and matches(o, walk.plan.local)
    )


def _bounded(filters: Filters, frontier: OrderKey | None, sort: SortKey) -> Filters:
    """Push the resume point down as an inclusive time bound (ties are dropped after the fetch)."""
    if frontier is None:
        return filters
    at = frontier[0]
    if sort.descending:
        bound = at + ONE_MICROSECOND  # created_before is exclusive
        current = filters.created_before
        return replace(filters, created_before=bound if current is None else min(current, bound))
    current = filters.created_after
    return replace(filters, created_after=at if current is None else max(current, at))


def _next_position(walk: _Walk) -> Any:
    """Where the next page resumes this instance: all matching orders up to it were emitted."""
    if walk.error is not None or walk.buffer:
        position = walk.emitted or walk.started_at
    elif walk.upstream_more:
        position = walk.frontier
    else:
        return DONE
    return None if position is None else [position[0].isoformat(), position[1]]


def _decode_position(value: Any) -> OrderKey | None:
    if value is None:
        return None
    try:
        at, order_id = value
        return (datetime.fromisoformat(at), str(order_id))
    except (TypeError, ValueError):
        raise InvalidCursorError("The cursor is malformed.") from None


def _report(walk: _Walk, bounded: bool) -> ProviderReport:
    if walk.error is not None:
        error = walk.error
        problem = ProblemBody(
            type=error.type_uri, title=error.title, status=error.status_code, detail=error.detail,
            **{k: v for k, v in error.extensions.items() if k != "provider"},
        )  # fmt: skip
        return ProviderReport(status="error", ms=walk.ms, error=problem)
    return ProviderReport(
        status="ok",
        ms=walk.ms,
        filters_pushed_down=walk.plan.pushed_names,
        filters_applied_locally=walk.plan.local_names,
    )
