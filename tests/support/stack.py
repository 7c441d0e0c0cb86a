"""Building a gateway in front of in-process simulators for API tests (ASGI, no sockets)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.types import ASGIApp

from gateway.adapters.base import ListRequest
from gateway.adapters.registry import ADAPTERS
from gateway.app import create_app
from gateway.models import Order
from gateway.query import Filters, SortKey
from gateway.settings import Settings, settings_from_mapping
from tests.support.credentials import API_KEYS, CURSOR_SECRET, SIM_TOKEN

# name → (key, scopes, providers or None for all); the keys are made at random per process.
KEYS = {
    "reader": (API_KEYS["reader"], ["orders:read"], None),
    "writer": (API_KEYS["writer"], ["orders:write"], None),
    "ops": (API_KEYS["ops"], ["orders:read", "orders:write", "orders:admin"], None),
    "eu-only": (API_KEYS["eu-only"], ["orders:read"], ["waldur-eu"]),
    "editor": (API_KEYS["editor"], ["orders:read", "orders:write"], None),
}


class HostRouter(httpx.AsyncBaseTransport):
    """Sends each request to the ASGI app registered for its host, like DNS would."""

    def __init__(self, apps: Mapping[str, ASGIApp]) -> None:
        self._transports = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transports[request.url.host].handle_async_request(request)


def gateway_settings(providers: dict[str, dict[str, Any]], **extra: Any) -> Settings:
    raw: dict[str, Any] = {
        "providers": providers,
        "api_keys": [
            {"name": name, "sha256": hashlib.sha256(key.encode()).hexdigest(), "scopes": scopes}
            | ({"providers": allowed} if allowed else {})
            for name, (key, scopes, allowed) in KEYS.items()
            if allowed is None or set(allowed) <= providers.keys()
        ],
        "cursor": {"secret": CURSOR_SECRET},
    }
    raw.update(extra)
    return settings_from_mapping(raw, env={})


def waldur_instance(host: str, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {"kind": "waldur", "base_url": f"http://{host}/api/", "token": SIM_TOKEN}
    cfg.update(overrides)
    return cfg


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name][0]}"}


@asynccontextmanager
async def gateway_client(settings: Settings, upstream: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, client=upstream)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield client


async def read_every_order(providers: dict[str, dict[str, Any]]) -> list[Order]:
    """Every order of every upstream, read straight through its adapter (once each, though
    page-number paging may repeat rows): the truth a walk through the gateway is checked against."""
    settings = gateway_settings(providers)
    everything: dict[str, Order] = {}
    async with httpx.AsyncClient() as client:
        for name, cfg in settings.providers.items():
            adapter = ADAPTERS[cfg.kind](name, cfg, client)
            position = None
            while True:
                chunk = await adapter.list_orders(
                    ListRequest(
                        filters=Filters(),
                        sort=SortKey.CREATED_ASC,
                        page_size=adapter.capabilities.max_page_size,
                        position=position,
                    )
                )
                everything.update((o.id, o) for o in chunk.orders)
                position = chunk.next_position
                if position is None:
                    break
    return list(everything.values())
