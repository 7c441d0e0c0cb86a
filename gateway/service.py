"""OrderService: which instances a caller may use, planning, fan-out and merge of listings, reads."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from gateway.adapters.base import GENERIC_ACTIONS, ActionOutcome, Capabilities, OrderDraft, ProviderAdapter
from gateway.adapters.retry import RetryPredicate, call_with_retries, failed_with
from gateway.cache import MemoryReadCache, ReadCache, listing_tag, merge_outcomes, order_tag, reading
from gateway.cursor import CursorSigner, CursorState
from gateway.deadline import UPSTREAM_SHARE, capped_remaining, deadline_after
from gateway.errors import (
    AllUpstreamsFailedError,
    CircuitOpenError,
    ForbiddenError,
    InvalidQueryError,
    OrderNotFoundError,
    OutcomeUncertainError,
    UnsupportedActionError,
    UpstreamBadResponseError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
    ValidationFailedError,
)
from gateway.fanout import Outcome, fan_out
from gateway.memo import PerObject
from gateway.merge import order_key
from gateway.models import (
    CreateOrderBody,
    Health,
    Order,
    OrderPage,
    ProviderReport,
    ReadOutcome,
    ReadSource,
    split_order_id,
)
from gateway.pages import PageMemo, RememberedPage, cached_reads
from gateway.principal import Principal
from gateway.query import OrderQuery
from gateway.settings import RetrySettings
from gateway.telemetry import note_cache_read
from gateway.walk import DONE, Position, Walk, plan_for

T = TypeVar("T")
MAX_CALLS_PER_INSTANCE = 5  # upstream calls one page may make at one instance to fill itself
READ_ONLY_GENERIC = frozenset({"offering", "history"})
# Keyed writes are retried only when the upstream did not act on them (docs/decisions.md):
# a create also after a failed connection, since it is looked up by its marker first.
KEYED_CREATE_RETRY = frozenset({429, 502, 503, 504})
KEYED_ACTION_RETRY = frozenset({429, 503})
BYPASSED = ReadOutcome("bypass")  # no read went through the cache
# Cached orders whose narrowed copy is remembered (a copy shares its fields with the order).
NARROWED_ORDERS = 1024


def action_scope(capabilities: Capabilities, action: str) -> str:
    """The scope an action needs: admin for staff actions, read for look-ups, else write."""
    if action in capabilities.admin_actions:
        return "orders:admin"
    if action in capabilities.read_actions or action in READ_ONLY_GENERIC:
        return "orders:read"
    return "orders:write"


def _may_have_made(exc: UpstreamError) -> bool:
    """Whether a failed create may have been made upstream all the same: no answer in time, a
    connection that failed, or an answer that was a success we could not read (2xx, unknown)."""
    if isinstance(exc, UpstreamTimeoutError | UpstreamUnreachableError):
        return True
    if isinstance(exc, UpstreamBadResponseError):
        return exc.upstream_status is None or 200 <= exc.upstream_status < 300
    return False


def _with_source(report: ProviderReport, sources: list[ReadSource]) -> ProviderReport:
    """The report, saying whether its orders came from the upstream, the cache or stale cache."""
    if "stale" in sources:
        return report.model_copy(update={"source": "stale"})
    if sources and all(source == "hit" for source in sources):
        return report.model_copy(update={"source": "cache"})
    return report


async def _fan_out(calls: Mapping[str, Callable[[], Awaitable[T]]], budget_s: float) -> dict[str, Outcome[T]]:
    """``fan_out``, with the calls' deadline shortened to the budget: their retries end in time."""
    with deadline_after(budget_s):
        return await fan_out(calls, budget_s)


def for_caller(order: Order, principal: Principal, adapter: ProviderAdapter) -> Order:
    """The order with ``actions`` narrowed to what this caller's scopes allow."""
    allowed = tuple(a for a in order.actions if action_scope(adapter.capabilities, a) in principal.scopes)
    return order if allowed == order.actions else order.model_copy(update={"actions": allowed})


class OrderService:
    """The use cases behind the routes; knows nothing of HTTP."""

    def __init__(
        self,
        adapters: Mapping[str, ProviderAdapter],
        signer: CursorSigner,
        *,
        cache: ReadCache | None = None,
        budget_s: float,
        clock: Callable[[], float] = time.time,
        retry: Mapping[str, RetrySettings] | None = None,
    ) -> None:
        self._adapters = dict(adapters)
        self._signer = signer
        self.cache: ReadCache = cache if cache is not None else MemoryReadCache()
        self._budget_s = budget_s
        self._clock = clock
        self._retry = dict(retry or {})  # per instance; RetrySettings() where absent
        self._pages = PageMemo(self.cache, clock)
        # Cached orders narrowed per scope set: the copies stay the same objects (rendered once).
        self._narrowed: PerObject[Order] = PerObject(NARROWED_ORDERS)

    def visible(self, principal: Principal) -> dict[str, ProviderAdapter]:
        """The instances this caller may use; the others do not exist for it."""
        return {name: a for name, a in self._adapters.items() if principal.can_see(name)}

    def _resolve(self, principal: Principal, order_id: str) -> tuple[ProviderAdapter, str]:
        parts = split_order_id(order_id)
        adapter = self.visible(principal).get(parts[0]) if parts else None
        if parts is None or adapter is None:
            raise OrderNotFoundError("No such order.")
        return adapter, parts[1]

    async def get_order(self, principal: Principal, order_id: str) -> Order:
        """One order by global id; 404 for unknown ids and for instances the caller may not see."""
        order, _ = await self.read_order(principal, order_id)
        return order

    async def read_order(
        self, principal: Principal, order_id: str, *, refresh: bool = False
    ) -> tuple[Order, ReadOutcome]:
        """``get_order``, and how the read was answered; ``refresh`` skips the read cache."""
        adapter, native_id = self._resolve(principal, order_id)
        with reading(refresh=refresh) as ledger:
            order = await adapter.get_order(native_id)
        return self._narrow(order, principal, adapter, ledger.reads), merge_outcomes(ledger.reads) or BYPASSED

    async def create_order(
        self, principal: Principal, body: CreateOrderBody, *, marker: str, recover: bool, keyed: bool = False
    ) -> Order:
        """Create an order at one instance. With ``recover`` (a retry after an uncertain
        create) the order that create may have made is looked up first, by its marker.
        ``keyed`` (the caller sent an Idempotency-Key): a create the upstream did not act on
        is retried, after looking for the order by its marker."""
        adapter = self.visible(principal).get(body.provider)
        if adapter is None:
            raise ValidationFailedError(
                "Unknown provider.",
                errors=[{"loc": ["body", "provider"], "msg": "no such provider instance"}],
            )
        if not adapter.capabilities.can_create:
            raise UnsupportedActionError(f"Orders cannot be created at {adapter.kind} instances.")
        draft = OrderDraft(
            name=body.name,
            service=body.service,
            customer=body.customer,
            items=body.items,
            parameters=body.parameters,
            provider_options=body.provider_options,
            marker=marker,
        )
        # Whether an order may exist that this request cannot see: after an uncertain earlier
        # attempt (``recover``), or once one of this request's creates failed uncertainly.
        # Then every later failure (a look-up that fails too) stays uncertain, so the key is
        # kept and the next retry looks again rather than creating a second order.
        maybe_made = [recover]
        try:
            if recover:
                found = await self._evicting(adapter.instance, None, adapter.find_created(draft))
                if found is not None:
                    return for_caller(found, principal, adapter)
            created = await self._evicting(
                adapter.instance, None, self._create(adapter, draft, keyed=keyed, maybe_made=maybe_made)
            )
        except UpstreamError as exc:
            if not (maybe_made[0] or _may_have_made(exc)):
                raise  # the upstream refused it (a 5xx, 429...): nothing to look for
            raise OutcomeUncertainError(
                "The provider did not confirm the order; it may exist. Retry with the same "
                "Idempotency-Key to find it rather than create another.",
                provider=adapter.instance,
            ) from exc
        return for_caller(created, principal, adapter)

    async def perform(
        self,
        principal: Principal,
        order_id: str,
        action: str,
        payload: Mapping[str, Any],
        *,
        keyed: bool = False,
    ) -> ActionOutcome:
        """Run an action on an order: 404 when hidden, 403 without its scope, 422 when the
        kind has no such action; the adapter answers 409 when the state forbids it. A
        ``keyed`` write the upstream said it did not process (429, 503) is retried."""
        adapter, native_id = self._resolve(principal, order_id)
        scope = action_scope(adapter.capabilities, action)
        if scope not in principal.scopes:
            raise ForbiddenError(f"'{action}' needs the '{scope}' scope.")
        if action not in GENERIC_ACTIONS and action not in adapter.capabilities.actions:
            raise UnsupportedActionError(f"{adapter.kind} orders have no '{action}' action.")
        if keyed and scope != "orders:read":
            call = self._retrying(
                adapter.instance,
                lambda: adapter.perform(native_id, action, payload),
                failed_with(KEYED_ACTION_RETRY, unreachable=False),
            )
        else:
            call = adapter.perform(native_id, action, payload)
        outcome = await (
            call if scope == "orders:read" else self._evicting(adapter.instance, native_id, call)
        )
        if outcome.order is None:
            return outcome
        return ActionOutcome(order=for_caller(outcome.order, principal, adapter), resource=outcome.resource)

    async def health(self, principal: Principal | None) -> dict[str, Health]:
        """Each instance's reachability (all instances when ``principal`` is None)."""
        adapters = self._adapters if principal is None else self.visible(principal)
        outcomes = await _fan_out({n: a.check_health for n, a in adapters.items()}, self._upstream_budget())
        return {
            name: o.value if o.value is not None else Health(status="error", ms=o.ms, error="timeout")
            for name, o in outcomes.items()
        }

    async def list_orders(
        self, principal: Principal, query: OrderQuery, *, refresh: bool = False
    ) -> OrderPage:
        """One page of the merged, filtered, sorted listing over the caller's instances;
        ``refresh`` skips the read cache (the answers fetched are stored for others)."""
        if not refresh:
            recalled = await self._pages.recall(principal.name, query)
            if recalled is not None:
                return self._reused(principal, *recalled)
        adapters = self._select(principal, query)
        positions = self._positions(principal, query)
        walks = {
            name: Walk(adapter=a, plan=plan_for(a, query), query=query, start=start)
            for name, a in adapters.items()
            if isinstance(start := positions.get(name, Position()), Position)
        }
        with reading(refresh=refresh) as ledger:
            page = await self._fill(walks, query)
        failures = [w.error for w in walks.values() if w.error is not None]
        if failures and (query.require_all or len(failures) == len(walks)):
            if query.require_all and len(failures) < len(walks):
                raise failures[0]
            if all(isinstance(e, CircuitOpenError) for e in failures):
                # Nobody was called: say when to come back rather than "they all failed".
                raise min(failures, key=lambda e: int(e.headers.get("Retry-After", "0")))
            raise AllUpstreamsFailedError(
                "No provider could answer.",
                all_timed_out=all(isinstance(e, UpstreamTimeoutError) for e in failures),
            )
        merged_to = order_key(page[-1], query.sort) if page else None
        next_positions = {name: w.next_position(merged_to) for name, w in walks.items()}
        done = {name: DONE for name in adapters if name not in walks}
        has_more = any(p != DONE for p in next_positions.values())
        resume_at = {**done, **next_positions} if has_more else None
        answer = OrderPage(
            data=tuple(self._narrow(o, principal, adapters[o.provider], ledger.reads) for o in page),
            next_cursor=self._cursor(principal, query.fingerprint, resume_at),
            has_more=has_more,
            providers={name: _with_source(w.report(), ledger.sources(name)) for name, w in walks.items()}
            | {name: ProviderReport(status="ok", ms=0) for name in done},
            cache=merge_outcomes(ledger.reads) or BYPASSED,
        )
        reads = cached_reads(ledger.reads)
        # Reusable only when every upstream call of every walk was answered by one cache entry.
        if not failures and reads is not None and len(reads) == sum(w.calls for w in walks.values()):
            from_cache = {"source": "cache", "ms": 0}
            self._pages.remember(
                principal.name,
                query,
                RememberedPage(
                    data=answer.data,
                    positions=resume_at,
                    fingerprint=query.fingerprint,
                    providers={
                        name: report.model_copy(update=from_cache) if name in walks else report
                        for name, report in answer.providers.items()
                    },
                    reads=reads,
                ),
            )
        return answer

    def _narrow(
        self, order: Order, principal: Principal, adapter: ProviderAdapter, cached: Mapping[str, Any]
    ) -> Order:
        """``for_caller``, remembered when the order came from the read cache (``cached``
        holds the instances whose reads went through it): an uncached order is not kept alive."""
        return self._narrowed.get(
            order,
            lambda: for_caller(order, principal, adapter),
            variant=principal.scopes,
            keep=order.provider in cached,
        )

    def _reused(
        self,
        principal: Principal,
        page: RememberedPage,
        hits: list[tuple[str, ReadOutcome]],
    ) -> OrderPage:
        """A remembered page, as a cache hit of each read it was built from, with a new cursor."""
        reads: dict[str, list[ReadOutcome]] = {}
        for instance, outcome in hits:
            reads.setdefault(instance, []).append(outcome)
            note_cache_read(instance, "hit")
        # Constructed, not validated: its parts were validated when it was first built, and
        # the orders tuple stays the same object (routes render a tuple once).
        return OrderPage.model_construct(
            data=page.data,
            next_cursor=self._cursor(principal, page.fingerprint, page.positions),
            has_more=page.positions is not None,
            providers=page.providers,
            cache=merge_outcomes(reads) or BYPASSED,
        )

    def _cursor(
        self, principal: Principal, fingerprint: str, positions: Mapping[str, Any] | None
    ) -> str | None:
        if positions is None:
            return None
        state = CursorState(
            fingerprint=fingerprint,
            principal=principal.name,
            issued_at=int(self._clock()),
            positions=positions,
        )
        return self._signer.sign(state)

    def _upstream_budget(self) -> float:
        """The configured upstream budget, or less when the request's deadline is nearer."""
        return max(capped_remaining(self._budget_s, share=UPSTREAM_SHARE), 0.001)

    async def _create(
        self, adapter: ProviderAdapter, draft: OrderDraft, *, keyed: bool, maybe_made: list[bool]
    ) -> Order:
        attempts = 0

        async def create() -> Order:
            try:
                return await adapter.create_order(draft)
            except UpstreamError as exc:
                maybe_made[0] = maybe_made[0] or _may_have_made(exc)
                raise

        if not keyed:
            return await create()

        async def attempt() -> Order:
            nonlocal attempts
            attempts += 1
            if attempts > 1:  # the failed create may have been made after all: look first
                found = await adapter.find_created(draft)
                if found is not None:
                    return found
            return await create()

        return await self._retrying(
            adapter.instance, attempt, failed_with(KEYED_CREATE_RETRY, unreachable=True)
        )

    async def _retrying(
        self, instance: str, attempt: Callable[[], Awaitable[T]], retry_on: RetryPredicate
    ) -> T:
        """``attempt`` under the instance's retry policy, never past the request's deadline."""
        end = time.monotonic() + capped_remaining(math.inf, share=UPSTREAM_SHARE)
        policy = self._retry.get(instance) or RetrySettings()
        return await call_with_retries(attempt, policy, end=end, instance=instance, retry_on=retry_on)

    async def _evicting(self, instance: str, native_id: str | None, call: Awaitable[T]) -> T:
        """Run a write, then drop the cached reads it made stale before anyone is answered."""
        result = await call
        tags = [listing_tag(instance)]
        if native_id is not None:
            tags.append(order_tag(instance, native_id))
        await self.cache.evict(tags)
        return result

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
        deadline = time.monotonic() + self._upstream_budget()
        while len(page) < query.limit:
            dry = [w for w in walks.values() if w.needs_fetch()]
            if dry:
                spent = [w for w in dry if w.calls >= MAX_CALLS_PER_INSTANCE]
                if spent:
                    for walk in spent:
                        walk.call_limit_reached = True
                    break
                remaining = deadline - time.monotonic()
                outcomes = await _fan_out({w.adapter.instance: w.fetch for w in dry}, max(remaining, 0.001))
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
