"""The async shell of the IVCAP adapter: HTTP calls on the shared client, a dialect's wire functions around them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
import orjson

from gateway.adapters.base import (
    ActionOutcome,
    Capabilities,
    ListChunk,
    ListRequest,
    OrderDraft,
    probe_health,
    send_upstream,
    url_origin,
)
from gateway.adapters.ivcap import wire_actions, wire_current, wire_legacy
from gateway.adapters.ivcap.actions import (
    CURRENT_ACTIONS,
    CURRENT_WRITE_ACTIONS,
    LEGACY_ACTIONS,
    READ_ACTIONS,
    AddMetadataPayload,
    check_action,
    validate_payload,
)
from gateway.adapters.ivcap.drafts import CREATE_DIALECTS
from gateway.adapters.ivcap.wire_common import Dialect, IvcapContext, classify_error, normalise_order_urn
from gateway.errors import NotFoundError, OrderNotFoundError, ValidationFailedError
from gateway.models import Health, Order
from gateway.query import SortKey
from gateway.settings import IvcapSettings
from gateway.telemetry import note_unknown_status

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
    # Order metadata (aspects) read and added, products, the service (§4); IVCAP has no
    # cancel, update or delete.
    actions=CURRENT_ACTIONS,
    can_create=True,
    can_delete=False,
    read_actions=READ_ACTIONS,
)
# The legacy shape (§9) has no aspect, products or services endpoints: what a read embeds.
IVCAP_LEGACY_CAPABILITIES = replace(IVCAP_CAPABILITIES, actions=LEGACY_ACTIONS, read_actions=LEGACY_ACTIONS)


class IvcapAdapter:
    kind: ClassVar[str] = "ivcap"

    def __init__(
        self, instance: str, settings: IvcapSettings, client: httpx.AsyncClient, *, gateway_url: str = ""
    ) -> None:
        self.instance = instance
        legacy = settings.dialect == "legacy"
        self.capabilities = IVCAP_LEGACY_CAPABILITIES if legacy else IVCAP_CAPABILITIES
        self._settings = settings
        self._client = client
        self._dialect = DIALECTS[settings.dialect]
        self._create = CREATE_DIALECTS[settings.dialect]
        self._base = str(settings.base_url)
        self._ctx = IvcapContext(
            instance=instance,
            upstream_origin=url_origin(self._base),
            public_url=str(settings.public_url) if settings.public_url else None,
            gateway_url=gateway_url.rstrip("/"),
            write_actions=() if legacy else CURRENT_WRITE_ACTIONS,
        )
        self._headers = {"Authorization": f"Bearer {settings.token.get_secret_value()}"}
        self._json_headers = self._headers | {"Content-Type": "application/json"}
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
        return self._read_answer(await self._read(urn))

    async def _read(self, urn: str) -> httpx.Response:
        # The whole id percent-encoded, as ivcap-client sends it (§2).
        return await self._get(f"orders/{quote(urn, safe='')}", None)

    def _read_answer(self, response: httpx.Response) -> Order:
        order = self._dialect.parse_order(self._ctx, response.status_code, response.content)
        self._warn_unknown_states((order,))
        return order

    async def create_order(self, draft: OrderDraft) -> Order:
        """``POST orders`` (§4; legacy §9); both answer 200 with the new order."""
        body = orjson.dumps(self._create.create_body(draft))  # ValidationFailedError before any call
        response = await self._call("POST", "orders", content=body)
        if response.status_code != 200:
            raise self._create.create_error(self.instance, response.status_code, response.content)
        return self._read_answer(response)

    async def find_created(self, draft: OrderDraft) -> Order | None:
        """Read the newest orders of the draft's service (and name, and legacy account) one by
        one until one carries the marker; list rows do not show tags or aspects."""
        try:
            params = self._create.find_params(draft)
        except ValidationFailedError:
            return None  # such a create fails before any call: nothing was made
        response = await self._get("orders", params)
        chunk = self._dialect.parse_list(self._ctx, response.status_code, response.headers, response.content)
        for row in chunk.orders:
            order = await self.get_order(row.native_id)
            if self._create.carries_marker(order, draft.marker):
                return order
        return None

    async def perform(self, native_id: str, action: str, payload: Mapping[str, Any]) -> ActionOutcome:
        check_action(action, self.capabilities.actions)
        valid = validate_payload(action, payload)
        urn = normalise_order_urn(native_id)
        if urn is None:
            raise OrderNotFoundError("No such order.")
        read = await self._read(urn)
        order = self._read_answer(read)  # OrderNotFoundError first; and the order for the answer
        if self._settings.dialect == "legacy":  # §9: only what a read embeds
            parse = wire_actions.legacy_products if action == "products" else wire_actions.legacy_metadata
            return ActionOutcome(order, parse(self._ctx, read.status_code, read.content))
        if isinstance(valid, AddMetadataPayload):
            params, body = wire_actions.aspect_create(urn, valid)
            response = await self._call("POST", "aspects", params=params, content=body)
            added = wire_actions.parse_aspect_id(self._ctx, response.status_code, response.content)
            return ActionOutcome(await self.get_order(urn), added)  # the order after the change
        if action == "offering":
            return ActionOutcome(order, await self._service(order))
        if action == "products":
            path = f"orders/{quote(urn, safe='')}/products"
            products = await self._walk(path, wire_actions.product_params, wire_actions.parse_products)
            return ActionOutcome(order, products)
        params_of = partial(wire_actions.aspect_list_params, urn)
        return ActionOutcome(order, await self._walk("aspects", params_of, wire_actions.parse_aspects))

    async def _service(self, order: Order) -> dict[str, Any]:
        if order.service is None:
            raise NotFoundError("The order names no service.")
        response = await self._get(f"services/{quote(order.service.id, safe='')}", None)
        return wire_actions.parse_service(self._ctx, response.status_code, response.content)

    async def _walk(
        self,
        path: str,
        params: Callable[[str | None], list[tuple[str, str]]],
        parse: Callable[[IvcapContext, int, bytes], tuple[list[dict[str, Any]], str | None]],
    ) -> list[dict[str, Any]]:
        """A sub-list to its end (at most `MAX_PAGES` pages), following ``next`` tokens (§5)."""
        rows: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(wire_actions.MAX_PAGES):
            response = await self._get(path, params(token))
            page, token = parse(self._ctx, response.status_code, response.content)
            rows += page
            if token is None:
                break
        return rows

    async def check_health(self) -> Health:
        return await probe_health(self._get("orders", [("limit", "1")]), self.instance, classify_error)

    async def _get(self, path: str, params: list[tuple[str, str]] | None) -> httpx.Response:
        return await self._call("GET", path, params=params)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        headers = self._headers if content is None else self._json_headers
        return await send_upstream(
            self._client,
            self.instance,
            self._settings,
            method,
            self._base + path,
            params=tuple(params) if params else None,
            content=content,
            headers=headers,
        )

    def _warn_unknown_states(self, orders: tuple[Order, ...]) -> None:
        # IVCAP's own `unknown` is in the table but logged too (§6): the backend lost track.
        for order in orders:
            state = order.provider_status
            if state in self._dialect.states and state != "unknown":
                continue
            note_unknown_status(self.instance)
            if state not in self._unknown_states:
                self._unknown_states.add(state)
                log.warning("unknown IVCAP status %r at %s; mapped to %s", state, self.instance, order.status)
