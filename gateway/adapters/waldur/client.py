"""The async shell of the Waldur adapter: HTTP calls on the shared client, wire functions around them."""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar
from urllib.parse import urlsplit

import httpx

from gateway.adapters.base import Capabilities, ListChunk, ListRequest, Stopwatch, upstream_errors
from gateway.adapters.waldur.states import WALDUR_STATES
from gateway.adapters.waldur.wire import (
    WaldurContext,
    classify_error,
    list_params,
    normalise_native_id,
    parse_list,
    parse_order,
)
from gateway.errors import GatewayError, OrderNotFoundError
from gateway.models import Health, Order
from gateway.query import SortKey
from gateway.settings import WaldurSettings

log = logging.getLogger("gateway.adapters.waldur")

WALDUR_CAPABILITIES = Capabilities(
    # `q` stays with the gateway: Waldur's `query` matches project and resource names, ours
    # matches order name, id and customer name (API.md §5).
    filters=frozenset(
        {
            "status",
            "provider_status",
            "customer",
            "service",
            "created_after",
            "created_before",
            "updated_after",
        }
    ),
    sorts=frozenset({SortKey.CREATED_ASC, SortKey.CREATED_DESC}),  # `o` has no `modified`
    max_page_size=100,  # the 8.1.3 client's documented maximum (waldur.md §5)
    stable_paging=False,  # page numbers over a mutable set
    actions=frozenset(),
    can_create=False,
    can_delete=False,
)


class WaldurAdapter:
    kind: ClassVar[str] = "waldur"

    def __init__(
        self, instance: str, settings: WaldurSettings, client: httpx.AsyncClient, *, gateway_url: str = ""
    ) -> None:
        self.instance = instance
        self.capabilities = WALDUR_CAPABILITIES
        self._settings = settings
        self._client = client
        self._base = str(settings.base_url)
        origin = urlsplit(self._base)
        self._ctx = WaldurContext(
            instance=instance,
            currency=settings.currency,
            upstream_origin=f"{origin.scheme}://{origin.netloc}",
            public_url=str(settings.public_url) if settings.public_url else None,
            gateway_url=gateway_url.rstrip("/"),
        )
        self._headers = {"Authorization": f"Token {settings.token.get_secret_value()}"}
        self._unknown_states: set[str] = set()

    async def list_orders(self, request: ListRequest) -> ListChunk:
        params = list_params(request)
        if params is None:
            return ListChunk(orders=(), next_position=None)
        response = await self._get("marketplace-orders/", params)
        chunk = parse_list(self._ctx, response.status_code, response.headers, response.content)
        self._warn_unknown_states(chunk.orders)
        return chunk

    async def get_order(self, native_id: str) -> Order:
        uuid = normalise_native_id(native_id)
        if uuid is None:
            raise OrderNotFoundError("No such order.")
        response = await self._get(f"marketplace-orders/{uuid}/", None)
        order = parse_order(self._ctx, response.status_code, response.content)
        self._warn_unknown_states((order,))
        return order

    async def check_health(self) -> Health:
        watch = Stopwatch()
        try:
            response = await self._get("marketplace-orders/", [("page_size", "1")], method="HEAD")
            if response.status_code != 200:
                raise classify_error(self.instance, response.status_code, b"")
        except GatewayError as exc:
            return Health(status="error", ms=watch.ms, error=exc.type)
        return Health(status="ok", ms=watch.ms)

    async def _get(
        self, path: str, params: list[tuple[str, str]] | None, *, method: str = "GET"
    ) -> httpx.Response:
        with upstream_errors(self.instance):
            async with asyncio.timeout(self._settings.timeout_s):
                return await self._client.request(
                    method,
                    self._base + path,
                    params=tuple(params) if params else None,
                    headers=self._headers,
                    timeout=self._settings.timeout_s,
                )

    def _warn_unknown_states(self, orders: tuple[Order, ...]) -> None:
        for order in orders:
            state = order.provider_status
            if state not in WALDUR_STATES and state not in self._unknown_states:
                self._unknown_states.add(state)
                log.warning("unknown Waldur state %r at %s; mapped to the fallback", state, self.instance)
