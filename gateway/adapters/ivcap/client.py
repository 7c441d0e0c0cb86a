"""The async shell of the IVCAP adapter: HTTP calls on the shared client, a dialect's wire functions around them."""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar
from urllib.parse import quote, urlsplit

import httpx

from gateway.adapters.base import Capabilities, ListChunk, ListRequest, Stopwatch, upstream_errors
from gateway.adapters.ivcap import wire_current, wire_legacy
from gateway.adapters.ivcap.wire_common import Dialect, IvcapContext, classify_error, normalise_order_urn
from gateway.errors import GatewayError, OrderNotFoundError
from gateway.models import Health, Order
from gateway.query import SortKey
from gateway.settings import IvcapSettings

log = logging.getLogger("gateway.adapters.ivcap")

DIALECTS: dict[str, Dialect] = {"current": wire_current.DIALECT, "legacy": wire_legacy.DIALECT}

IVCAP_CAPABILITIES = Capabilities(
    # Pushed down: the time bounds on ordered-at and one `eq` each on account and service
    # (ivcap.md §5, our grammar). `status` and `provider_status` stay with the gateway: a
    # normalised status stands for several IVCAP statuses, and the grammar has one `eq` per
    # clause and no `or` to ask for them together. `updated_after` has no upstream field
    # (IVCAP states no change time), and `q` matches name, id and customer name, which
    # `name ~= '%q%'` (case-sensitive, name only) cannot do.
    filters=frozenset({"created_after", "created_before", "customer", "service"}),
    sorts=frozenset({SortKey.CREATED_ASC, SortKey.CREATED_DESC}),  # order-by=ordered-at
    max_page_size=50,  # `limit` is 1..50 (§5)
    stable_paging=False,  # offset-like page tokens over a changing set
    actions=frozenset(),  # IVCAP has no cancel, update or delete (§4)
    can_create=False,  # writes come with the write endpoints
    can_delete=False,
)


class IvcapAdapter:
    kind: ClassVar[str] = "ivcap"

    def __init__(
        self, instance: str, settings: IvcapSettings, client: httpx.AsyncClient, *, gateway_url: str = ""
    ) -> None:
        self.instance = instance
        self.capabilities = IVCAP_CAPABILITIES
        self._settings = settings
        self._client = client
        self._dialect = DIALECTS[settings.dialect]
        self._base = str(settings.base_url)
        origin = urlsplit(self._base)
        self._ctx = IvcapContext(
            instance=instance,
            upstream_origin=f"{origin.scheme}://{origin.netloc}",
            public_url=str(settings.public_url) if settings.public_url else None,
            gateway_url=gateway_url.rstrip("/"),
        )
        self._headers = {"Authorization": f"Bearer {settings.token.get_secret_value()}"}
        self._unknown_states: set[str] = set()

    async def list_orders(self, request: ListRequest) -> ListChunk:
        params = self._dialect.list_params(request)
        if params is None:
            return ListChunk(orders=(), next_position=None)
        response = await self._get("orders", params)
        chunk = self._dialect.parse_list(self._ctx, response.status_code, response.headers, response.content)
        self._warn_unknown_states(chunk.orders)
        return chunk

    async def get_order(self, native_id: str) -> Order:
        urn = normalise_order_urn(native_id)
        if urn is None:
            raise OrderNotFoundError("No such order.")
        # The whole id percent-encoded, as ivcap-client sends it (§2).
        response = await self._get(f"orders/{quote(urn, safe='')}", None)
        order = self._dialect.parse_order(self._ctx, response.status_code, response.content)
        self._warn_unknown_states((order,))
        return order

    async def check_health(self) -> Health:
        watch = Stopwatch()
        try:
            response = await self._get("orders", [("limit", "1")])
            if response.status_code != 200:
                raise classify_error(self.instance, response.status_code, b"")
        except GatewayError as exc:
            return Health(status="error", ms=watch.ms, error=exc.type)
        return Health(status="ok", ms=watch.ms)

    async def _get(self, path: str, params: list[tuple[str, str]] | None) -> httpx.Response:
        with upstream_errors(self.instance):
            async with asyncio.timeout(self._settings.timeout_s):
                return await self._client.get(
                    self._base + path,
                    params=tuple(params) if params else None,
                    headers=self._headers,
                    timeout=self._settings.timeout_s,
                )

    def _warn_unknown_states(self, orders: tuple[Order, ...]) -> None:
        # IVCAP's own `unknown` is in the table but logged too (§6): the backend lost track.
        for order in orders:
            state = order.provider_status
            known = state in self._dialect.states and state != "unknown"
            if not known and state not in self._unknown_states:
                self._unknown_states.add(state)
                log.warning("unknown IVCAP status %r at %s; mapped to %s", state, self.instance, order.status)
