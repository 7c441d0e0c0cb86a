"""The composition root: ``create_app`` wires settings, the shared client, adapters and routes."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from gateway.adapters.base import ProviderAdapter
from gateway.adapters.registry import ADAPTERS
from gateway.auth import ApiKeyMiddleware, KeyRing
from gateway.cache import MemoryReadCache, ReadCache, ReadThrough
from gateway.cache_redis import FallbackReadCache, RedisReadCache
from gateway.cursor import CursorSigner
from gateway.deadline import UPSTREAM_SHARE
from gateway.errors import GatewayError
from gateway.idempotency import IdempotencyStore, MemoryIdempotencyStore, RedisIdempotencyStore
from gateway.logs import log_access
from gateway.metrics import circuit_states
from gateway.middleware.limits import RequestLimitsMiddleware
from gateway.middleware.rate_limit import RateLimitMiddleware
from gateway.middleware.request_id import RequestIdMiddleware
from gateway.middleware.request_timeout import RequestTimeoutMiddleware
from gateway.middleware.security_headers import SecurityHeadersMiddleware, secured
from gateway.middleware.telemetry import TelemetryMiddleware
from gateway.problems import (
    authentication_failed,
    handle_gateway_error,
    handle_http_exception,
    handle_unexpected,
    problem_response,
)
from gateway.ratelimit import build_rate_limiter, policy_resolver
from gateway.routes import docs, export, meta, orders, writes
from gateway.service import OrderService
from gateway.settings import Settings
from gateway.stack import build_stack, circuit_of
from gateway.telemetry import Telemetry, build_telemetry


def create_app(
    settings: Settings,
    *,
    client: httpx.AsyncClient | None = None,
    clock: Callable[[], float] | None = None,
    telemetry: Telemetry | None = None,
) -> Starlette:
    """The gateway as an ASGI app. ``client``, ``clock`` and ``telemetry`` (its tracer and
    metrics, e.g. with an in-memory span exporter) are injected by tests and the demo."""
    # Built here, not in the lifespan: the middleware list below needs it. It connects lazily.
    limiter = build_rate_limiter(settings, clock=clock or time.monotonic)
    owns_telemetry = telemetry is None
    telemetry = telemetry or build_telemetry(settings.telemetry)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            shared = client
            if shared is None:
                shared = await stack.enter_async_context(build_client(settings))
            read_cache = build_read_cache(settings)
            stack.push_async_callback(read_cache.close)
            app.state.read_cache = read_cache
            app.state.orders = build_service(settings, shared, clock or time.time, read_cache, telemetry)
            if owns_telemetry:
                stack.callback(telemetry.shutdown)  # flushes spans still batched for OTLP
            app.state.idempotency = build_idempotency_store(settings)
            stack.push_async_callback(app.state.idempotency.close)
            app.state.idempotency_ttl_s = settings.idempotency.ttl_s
            stack.push_async_callback(limiter.close)
            yield

    middleware = [
        Middleware(SecurityHeadersMiddleware),
        Middleware(RequestIdMiddleware),
        Middleware(TelemetryMiddleware, telemetry=telemetry, log_access=log_access),
        Middleware(
            RequestLimitsMiddleware,
            max_url_bytes=settings.server.max_url_bytes,
            max_body_bytes=settings.server.max_body_bytes,
            body_timeout_s=settings.server.body_timeout_s,
            on_error=problem_response,
        ),
        Middleware(
            RequestTimeoutMiddleware,
            timeout_s=settings.server.request_timeout_s,
            on_error=problem_response,
        ),
        Middleware(ApiKeyMiddleware, ring=KeyRing(settings.api_keys), on_error=authentication_failed),
        Middleware(
            RateLimitMiddleware,
            limiter=limiter,
            policy_for=policy_resolver(settings),
            render=problem_response,
        ),
    ]
    app = Starlette(
        # export first: "/orders/{order_id}" would otherwise take "/orders/export".
        routes=[*export.ROUTES, *orders.ROUTES, *writes.ROUTES, *meta.ROUTES, *docs.ROUTES],
        middleware=middleware,
        exception_handlers={
            GatewayError: handle_gateway_error,
            HTTPException: handle_http_exception,
            Exception: secured(handle_unexpected),  # runs outside every middleware
        },
        lifespan=lifespan,
    )
    # A trailing-slash variant is not another name for a resource: 404, never a redirect.
    app.router.redirect_slashes = False
    app.state.limiter = limiter  # ``degraded`` while Redis is unreachable
    app.state.telemetry = telemetry
    app.state.shared_store = settings.cache.backend == "redis"
    app.state.max_body_bytes = settings.server.max_body_bytes  # routes/bodies.py
    return app


def build_client(settings: Settings) -> httpx.AsyncClient:
    """The one upstream client of the process, on the configured transport."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    timeout = httpx.Timeout(settings.server.request_timeout_s, connect=5.0)
    if settings.server.http_transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        return httpx.AsyncClient(
            transport=AiohttpTransport(limits=limits, trust_env=False), timeout=timeout, trust_env=False
        )
    return httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False)


def build_idempotency_store(settings: Settings) -> IdempotencyStore:
    """Idempotency records in memory (one replica) or in the shared Redis (several)."""
    if settings.cache.backend == "redis" and settings.cache.url:
        return RedisIdempotencyStore(settings.cache.url)
    return MemoryIdempotencyStore(max_bytes=settings.idempotency.max_bytes)


def build_read_cache(settings: Settings) -> ReadCache:
    """Cached reads in this process, or in the shared Redis (falling back to memory)."""
    memory = MemoryReadCache(max_entries=settings.cache.max_entries, max_bytes=settings.cache.max_bytes)
    if settings.cache.backend == "redis" and settings.cache.url:
        return FallbackReadCache(RedisReadCache(settings.cache.url), memory)
    return memory


def build_service(
    settings: Settings,
    client: httpx.AsyncClient,
    clock: Callable[[], float],
    read_cache: ReadCache,
    telemetry: Telemetry | None = None,
) -> OrderService:
    read_through = ReadThrough(read_cache)
    adapters: dict[str, ProviderAdapter] = {
        name: build_stack(
            ADAPTERS[cfg.kind](name, cfg, client, gateway_url=settings.server.public_url), cfg, read_through
        )
        for name, cfg in settings.providers.items()
    }
    if telemetry is not None:
        breakers = {name: b for name, a in adapters.items() if (b := circuit_of(a)) is not None}
        telemetry.metrics.watch_circuits(circuit_states(breakers))
    cursor = settings.cursor
    secret = cursor.secret.get_secret_value().encode() if cursor.secret else secrets.token_bytes(32)
    previous = [cursor.previous_secret.get_secret_value().encode()] if cursor.previous_secret else []
    return OrderService(
        adapters,
        CursorSigner(secret, previous, ttl_s=cursor.ttl_s),
        cache=read_cache,
        budget_s=settings.server.request_timeout_s * UPSTREAM_SHARE,
        clock=clock,
        retry={name: cfg.retry for name, cfg in settings.providers.items()},
    )
