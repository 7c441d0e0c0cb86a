"""Each instance's adapter wrapped in same-shaped layers: ``Cached`` → ``Breaker`` → ``Limited``
→ ``Traced``.

Every layer is itself a ProviderAdapter, so the service cannot tell a stack from an adapter.
``build_stack`` assembles one, once, at startup.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, TypeVar

from cachetools import LRUCache
from pydantic import BaseModel, ConfigDict, TypeAdapter

from gateway.adapters.base import (
    ActionOutcome,
    Capabilities,
    ListChunk,
    ListRequest,
    OrderDraft,
    ProviderAdapter,
)
from gateway.cache import ReadThrough, current_ledger, listing_tag, order_tag
from gateway.errors import CircuitOpenError, UpstreamError
from gateway.models import Health, Order
from gateway.settings import BreakerSettings, ProviderSettings, ReadCacheSettings
from gateway.telemetry import filling_cache, note_cache_read, traced_call

T = TypeVar("T")
CircuitState = Literal["closed", "open", "half-open"]
MEMO_ENTRIES = 64  # decoded chunks kept outside cache.max_bytes: few, the hottest
CACHE_FORMAT = "v1"  # part of every key: a change of the stored shape starts a fresh cache


class Layer:
    """Passes every call to the layer below; subclasses override what they change."""

    def __init__(self, inner: ProviderAdapter) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.instance = inner.instance
        self.capabilities: Capabilities = inner.capabilities

    async def _call(self, method: str, call: Callable[[], Awaitable[T]]) -> T:
        return await call()

    async def list_orders(self, request: ListRequest) -> ListChunk:
        return await self._call("list_orders", lambda: self.inner.list_orders(request))

    async def get_order(self, native_id: str) -> Order:
        return await self._call("get_order", lambda: self.inner.get_order(native_id))

    async def check_health(self) -> Health:
        return await self.inner.check_health()

    async def create_order(self, draft: OrderDraft) -> Order:
        return await self._call("create_order", lambda: self.inner.create_order(draft))

    async def find_created(self, draft: OrderDraft) -> Order | None:
        return await self._call("find_created", lambda: self.inner.find_created(draft))

    async def perform(self, native_id: str, action: str, payload: Mapping[str, Any]) -> ActionOutcome:
        return await self._call("perform", lambda: self.inner.perform(native_id, action, payload))


class Traced(Layer):
    """One span and one latency observation (by instance and outcome) per adapter call."""

    async def _call(self, method: str, call: Callable[[], Awaitable[T]]) -> T:
        return await traced_call(self.instance, self.kind, method, call)

    async def check_health(self) -> Health:
        return await traced_call(self.instance, self.kind, "check_health", self.inner.check_health)


class Limited(Layer):
    """At most ``limit`` calls in flight at this instance; the rest queue (within their budget)."""

    def __init__(self, inner: ProviderAdapter, limit: int) -> None:
        super().__init__(inner)
        self._slots = asyncio.Semaphore(limit)

    async def _call(self, method: str, call: Callable[[], Awaitable[T]]) -> T:
        async with self._slots:
            return await call()

    async def check_health(self) -> Health:
        async with self._slots:
            return await self.inner.check_health()


class CircuitBreaker:
    """Failure-rate breaker over a sliding time window: closed → open → half-open → closed.

    Counted as failures: UpstreamErrors (the upstream failed, timed out or was unreachable).
    A ClientError (404, 409, 422...) is the upstream answering properly, so a success.
    """

    def __init__(self, settings: BreakerSettings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._clock = clock
        self._calls: deque[tuple[float, bool]] = deque()  # (when, failed)
        self._failures = 0  # how many of ``_calls`` failed (kept, not counted per call: O(1))
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at < self._settings.open_s:
            return "open"
        return "half-open"

    @property
    def retry_after_s(self) -> int:
        """Whole seconds until the breaker lets a probe through (0 when it would now)."""
        if self._opened_at is None:
            return 0
        return max(0, math.ceil(self._opened_at + self._settings.open_s - self._clock()))

    def admit(self, instance: str) -> bool:
        """Whether a call may go out now; raises CircuitOpenError when it may not.

        Returns True when the call is the half-open probe (its result closes or reopens)."""
        state = self.state
        if state == "closed":
            return False
        if state == "half-open" and not self._probing:
            self._probing = True
            return True
        retry_after = max(1, self.retry_after_s)
        raise CircuitOpenError(
            "The provider is failing; the gateway is not calling it for now.",
            provider=instance,
            headers={"Retry-After": str(retry_after)},
        )

    def record(self, *, failed: bool, probe: bool) -> None:
        now = self._clock()
        if probe:
            self._probing = False
            self._forget_calls()
            self._opened_at = now if failed else None
            return
        if self._opened_at is not None:
            return  # a call admitted before the breaker opened: already judged
        self._calls.append((now, failed))
        self._failures += failed
        horizon = now - self._settings.window_s
        while self._calls and self._calls[0][0] < horizon:
            self._failures -= self._calls.popleft()[1]
        total = len(self._calls)
        if total >= self._settings.min_calls and self._failures / total >= self._settings.failure_rate:
            self._opened_at = now
            self._forget_calls()

    def _forget_calls(self) -> None:
        self._calls.clear()
        self._failures = 0


class Breaker(Layer):
    """Stops calling an instance that keeps failing: CircuitOpenError (503) without a call."""

    def __init__(self, inner: ProviderAdapter, breaker: CircuitBreaker) -> None:
        super().__init__(inner)
        self.breaker = breaker

    async def _call(self, method: str, call: Callable[[], Awaitable[T]]) -> T:
        probe = self.breaker.admit(self.instance)
        try:
            result = await call()
        except UpstreamError:
            self.breaker.record(failed=True, probe=probe)
            raise
        except asyncio.CancelledError:
            if probe:
                self.breaker.record(failed=True, probe=True)  # the request's budget ran out on it
            raise
        except BaseException:
            self.breaker.record(failed=False, probe=probe)
            raise
        self.breaker.record(failed=False, probe=probe)
        return result

    async def check_health(self) -> Health:
        """The upstream's health as probed (never counted), with the circuit's state."""
        health = await self.inner.check_health()
        return health.model_copy(update={"circuit": self.breaker.state})


class _StoredChunk(BaseModel):
    model_config = ConfigDict(frozen=True)

    orders: tuple[Order, ...]
    next_position: str | None


_CHUNK = TypeAdapter(_StoredChunk)
_ORDER = TypeAdapter(Order)


class Cached(Layer):
    """Reads through the read cache; writes pass (the service evicts after them)."""

    def __init__(
        self, inner: ProviderAdapter, cache: ReadThrough, settings: ReadCacheSettings, identity: str
    ) -> None:
        super().__init__(inner)
        self._cache = cache
        self._settings = settings
        # Keys carry the credential's fingerprint: a new credential may see other orders.
        self._prefix = f"{CACHE_FORMAT}:{self.instance}:{identity}"
        # The stored bytes and what they decode to, for the hottest keys (orders are frozen).
        self._memo: LRUCache[str, tuple[bytes, Any]] = LRUCache(maxsize=MEMO_ENTRIES)

    async def list_orders(self, request: ListRequest) -> ListChunk:
        key = f"{self._prefix}:list:{_list_key(request)}"

        async def fetch() -> bytes:
            chunk = await self.inner.list_orders(request)
            return _CHUNK.dump_json(_StoredChunk(orders=chunk.orders, next_position=chunk.next_position))

        raw = await self._read(key, fetch, (listing_tag(self.instance),))
        stored = self._decoded(key, raw, _CHUNK.validate_json)
        return ListChunk(orders=stored.orders, next_position=stored.next_position)

    async def get_order(self, native_id: str) -> Order:
        key = f"{self._prefix}:order:{native_id}"

        async def fetch() -> bytes:
            return _ORDER.dump_json(await self.inner.get_order(native_id))

        raw = await self._read(key, fetch, (order_tag(self.instance, native_id),))
        return self._decoded(key, raw, _ORDER.validate_json)

    def _decoded(self, key: str, raw: bytes, decode: Callable[[bytes], T]) -> T:
        """``decode(raw)``, remembered: a hot entry is validated once, not on every hit."""
        seen = self._memo.get(key)
        if seen is not None and (seen[0] is raw or seen[0] == raw):
            return seen[1]  # type: ignore[no-any-return]
        value = decode(raw)
        self._memo[key] = (raw, value)
        return value

    async def _read(self, key: str, fetch: Callable[[], Awaitable[bytes]], tags: tuple[str, ...]) -> bytes:
        ledger = current_ledger()
        with filling_cache("refresh" if ledger is not None and ledger.refresh else "miss"):
            value, outcome = await self._cache.read(
                key, fetch, ttl_s=self._settings.ttl_s, stale_s=self._settings.stale_if_error_s, tags=tags
            )
        note_cache_read(self.instance, outcome.source)
        if ledger is not None:
            ledger.note(self.instance, outcome)
        return value


def _list_key(request: ListRequest) -> str:
    """The request's canonical form, hashed: every field that changes the upstream's answer."""
    canonical = repr((request.filters, request.sort, request.page_size, request.position))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def credential_identity(settings: ProviderSettings) -> str:
    """A short fingerprint of the credential an instance is called with (never the secret)."""
    secret = settings.api_key if settings.kind == "arrow" else settings.token
    return hashlib.sha256(b"ogw-identity:" + secret.get_secret_value().encode()).hexdigest()[:12]


def build_stack(
    adapter: ProviderAdapter,
    settings: ProviderSettings,
    cache: ReadThrough,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> ProviderAdapter:
    """Wrap one instance's adapter, innermost first: Traced, Limited, Breaker, Cached."""
    stack: ProviderAdapter = Limited(Traced(adapter), settings.max_concurrency)
    stack = Breaker(stack, CircuitBreaker(settings.breaker, clock=clock))
    if settings.cache.ttl_s > 0:
        stack = Cached(stack, cache, settings.cache, credential_identity(settings))
    return stack


def circuit_of(adapter: ProviderAdapter) -> CircuitBreaker | None:
    """The breaker somewhere in a stack, for status pages."""
    layer: object = adapter
    while isinstance(layer, Layer):
        if isinstance(layer, Breaker):
            return layer.breaker
        layer = layer.inner
    return None
