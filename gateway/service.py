"""OrderService: which instances a caller may use, planning, fan-out and merge of listings, reads."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from gateway.adapters.base import ProviderAdapter
from gateway.cursor import CursorSigner, CursorState
from gateway.errors import (
    AllUpstreamsFailedError,
    InvalidQueryError,
    OrderNotFoundError,
    UpstreamTimeoutError,
)
from gateway.fanout import fan_out
from gateway.merge import order_key
from gateway.models import Health, Order, OrderPage, ProviderReport, split_order_id
from gateway.principal import Principal
from gateway.query import OrderQuery
from gateway.walk import DONE, Position, Walk, plan_for

MAX_CALLS_PER_INSTANCE = 5  # upstream calls one page may make at one instance to fill itself


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
            name: Walk(adapter=a, plan=plan_for(a, query), query=query, start=start)
            for name, a in adapters.items()
            if isinstance(start := positions.get(name, Position()), Position)
        }
        page = await self._fill(walks, query)
        failures = [w.error for w in walks.values() if w.error is not None]
        if failures and (query.require_all or len(failures) == len(walks)):
            if query.require_all and len(failures) < len(walks):
                raise failures[0]
            raise AllUpstreamsFailedError(
                "No provider could answer.",
                all_timed_out=all(isinstance(e, UpstreamTimeoutError) for e in failures),
            )
        merged_to = order_key(page[-1], query.sort) if page else None
        next_positions = {name: w.next_position(merged_to) for name, w in walks.items()}
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
            providers={name: w.report() for name, w in walks.items()}
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

    def _positions(self, principal: Principal, query: OrderQuery) -> dict[str, Position | str]:
        if query.cursor is None:
            return {}
        state = self._signer.verify(
            query.cursor, fingerprint=query.fingerprint, principal=principal.name, now=int(self._clock())
        )
        return {
            name: DONE if value == DONE else Position.decode(value) for name, value in state.positions.items()
        }

    async def _fill(self, walks: dict[str, Walk], query: OrderQuery) -> list[Order]:
        """Merge instances' buffers into one page, fetching more where a buffer runs dry.

        A page stops short when an instance that may hold the next order has used its calls:
        nothing is skipped, the cursor simply resumes there.
        """
        page: list[Order] = []
        deadline = time.monotonic() + self._budget_s
        while len(page) < query.limit:
            dry = [w for w in walks.values() if w.needs_fetch()]
            if dry:
                spent = [w for w in dry if w.calls >= MAX_CALLS_PER_INSTANCE]
                if spent:
                    for walk in spent:
                        walk.call_limit_reached = True
                    break
                remaining = deadline - time.monotonic()
                outcomes = await fan_out({w.adapter.instance: w.fetch for w in dry}, max(remaining, 0.001))
                for outcome in outcomes.values():
                    walk = walks[outcome.instance]
                    walk.ms += outcome.ms
                    walk.error = outcome.error
                continue
            heads = [w for w in walks.values() if w.error is None and w.buffer]
            if not heads:
                break
            pick = max if query.sort.descending else min
            page.append(pick(heads, key=lambda w: order_key(w.buffer[0], query.sort)).take())
        return page
