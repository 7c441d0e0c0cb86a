"""The async shell of the Arrow adapter: HTTP calls on the shared client, wire functions around them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import orjson

from gateway.adapters.arrow.states import is_known_state
from gateway.adapters.arrow.wire import (
    MAX_PAGE_SIZE,
    ArrowContext,
    classify_error,
    is_native_id,
    list_params,
    parse_created,
    parse_list,
    parse_order,
)
from gateway.adapters.base import Capabilities, ListChunk, ListRequest, Stopwatch, upstream_errors
from gateway.errors import GatewayError, OrderNotFoundError, ValidationFailedError
from gateway.models import Health, Order
from gateway.query import SortKey
from gateway.settings import ArrowSettings

log = logging.getLogger("gateway.adapters.arrow")

ARROW_CAPABILITIES = Capabilities(
    # Arrow's `from` and `lastUpdate` take a day, not a time (arrow.md §5): pushed down to
    # narrow the answer and applied again by the gateway. Everything else stays with the
    # gateway: there is no customer or created-before filter; `status` takes one Arrow
    # status while ours stand for several (and capabilities cannot depend on how many
    # `provider_status` values a query has); `program` is not our `service` id for sure
    # (an order's service is its first product's program); and no free-text search exists.
    filters=frozenset({"created_after", "updated_after"}),
    inexact_filters=frozenset({"created_after", "updated_after"}),
    # `sortBy=dateCreation|dateStatus` with `orderBy=asc|desc` (§5).
    sorts=frozenset(SortKey),
    max_page_size=MAX_PAGE_SIZE,
    stable_paging=False,  # page numbers over a mutable set (§5)
    actions=frozenset(),
    can_create=False,
    can_delete=False,
)


class ArrowAdapter:
    kind: ClassVar[str] = "arrow"

    def __init__(
        self, instance: str, settings: ArrowSettings, client: httpx.AsyncClient, *, gateway_url: str = ""
    ) -> None:
        self.instance = instance
        self.capabilities = ARROW_CAPABILITIES
        self._settings = settings
        self._client = client
        self._base = str(settings.base_url)
        origin = urlsplit(self._base)
        self._ctx = ArrowContext(
            instance=instance,
            zone=ZoneInfo(settings.timezone),
            upstream_origin=f"{origin.scheme}://{origin.netloc}",
            public_url=str(settings.public_url) if settings.public_url else None,
            gateway_url=gateway_url.rstrip("/"),
        )
        # §1: the key in `apiKey`, and JSON on every request as both clients send it.
        self._headers = {
            "apiKey": settings.api_key.get_secret_value(),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._unknown_states: set[str] = set()

    async def list_orders(self, request: ListRequest) -> ListChunk:
        params = list_params(request, zone=self._ctx.zone)
        if params is None:
            return ListChunk(orders=(), next_position=None)
        response = await self._call("GET", "orders", params=params)
        chunk = parse_list(self._ctx, response.status_code, response.content)
        self._warn_unknown_states(chunk.orders)
        return chunk

    async def get_order(self, native_id: str) -> Order:
        if not is_native_id(native_id):
            raise OrderNotFoundError("No such order.")
        response = await self._call("GET", f"orders/{native_id}")
        order = parse_order(self._ctx, response.status_code, response.content, reference=native_id)
        self._warn_unknown_states((order,))
        return order

    async def create_order_raw(self, body: Mapping[str, Any]) -> Order:
        """POST a CreateOrder body (§6), then read the order it made: the answer holds only its reference."""
        try:
            content = orjson.dumps(body)
        except orjson.JSONEncodeError as exc:
            raise ValidationFailedError(
                "The order cannot be sent as JSON.", errors=[{"loc": ["body"], "msg": "not JSON"}]
            ) from exc
        response = await self._call("POST", "orders", content=content)
        reference = parse_created(self._ctx, response.status_code, response.content)
        return await self.get_order(reference)

    async def check_health(self) -> Health:
        watch = Stopwatch()
        try:
            response = await self._call("GET", "orders", params=[("per_page", "1")])
            if not 200 <= response.status_code < 300:
                raise classify_error(self.instance, response.status_code, b"")
        except GatewayError as exc:
            return Health(status="error", ms=watch.ms, error=exc.type)
        return Health(status="ok", ms=watch.ms)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        with upstream_errors(self.instance):
            async with asyncio.timeout(self._settings.timeout_s):
                return await self._client.request(
                    method,
                    self._base + path,
                    params=tuple(params) if params else None,
                    content=content,
                    headers=self._headers,
                    timeout=self._settings.timeout_s,
                )

    def _warn_unknown_states(self, orders: tuple[Order, ...]) -> None:
        for order in orders:
            state = order.provider_status
            folded = state.casefold()
            if not is_known_state(state) and folded not in self._unknown_states:
                self._unknown_states.add(folded)
                log.warning("unknown Arrow status %r at %s; mapped to the fallback", state, self.instance)
