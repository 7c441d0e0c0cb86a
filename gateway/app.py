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
from starlette.middleware.authentication import AuthenticationMiddleware

from gateway.adapters.base import ProviderAdapter
from gateway.adapters.registry import ADAPTERS
from gateway.auth import ApiKeyBackend, KeyRing
from gateway.cursor import CursorSigner
from gateway.errors import GatewayError
from gateway.idempotency import IdempotencyStore, MemoryIdempotencyStore, RedisIdempotencyStore
from gateway.middleware.request_id import RequestIdMiddleware
from gateway.problems import (
    authentication_failed,
    handle_gateway_error,
    handle_http_exception,
    handle_unexpected,
)
from gateway.routes import meta, orders, writes
from gateway.service import OrderService
from gateway.settings import Settings

# Upstream calls get this share of the request's time; the rest is for merging and answering.
UPSTREAM_BUDGET_SHARE = 0.85


def create_app(
    settings: Settings,
    *,
    client: httpx.AsyncClient | None = None,
    clock: Callable[[], float] | None = None,
) -> Starlette:
    """The gateway as an ASGI app. ``client`` and ``clock`` are injected by tests and the demo."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            shared = client
            if shared is None:
                shared = await stack.enter_async_context(build_client(settings))
            app.state.orders = build_service(settings, shared, clock or time.time)
            app.state.idempotency = build_idempotency_store(settings)
            stack.push_async_callback(app.state.idempotency.close)
            app.state.idempotency_ttl_s = settings.idempotency.ttl_s
            yield

    middleware = [
        Middleware(RequestIdMiddleware),
        Middleware(
            AuthenticationMiddleware,
            backend=ApiKeyBackend(KeyRing(settings.api_keys)),
            on_error=authentication_failed,
        ),
    ]
    app = Starlette(
        routes=[*orders.ROUTES, *writes.ROUTES, *meta.ROUTES],
        middleware=middleware,
        exception_handlers={
            GatewayError: handle_gateway_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
    # A trailing-slash variant is not another name for a resource: 404, never a redirect.
    app.router.redirect_slashes = False
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
    return MemoryIdempotencyStore()


def build_service(settings: Settings, client: httpx.AsyncClient, clock: Callable[[], float]) -> OrderService:
    adapters: dict[str, ProviderAdapter] = {
        name: ADAPTERS[cfg.kind](name, cfg, client, gateway_url=settings.server.public_url)
        for name, cfg in settings.providers.items()
    }
    cursor = settings.cursor
    secret = cursor.secret.get_secret_value().encode() if cursor.secret else secrets.token_bytes(32)
    previous = [cursor.previous_secret.get_secret_value().encode()] if cursor.previous_secret else []
    return OrderService(
        adapters,
        CursorSigner(secret, previous, ttl_s=cursor.ttl_s),
        budget_s=settings.server.request_timeout_s * UPSTREAM_BUDGET_SHARE,
        clock=clock,
    )
