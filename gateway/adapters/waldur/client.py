"""The async shell of the Waldur adapter: HTTP calls on the shared client, wire functions around them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

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
from gateway.adapters.waldur.actions import (
    WALDUR_ADMIN_ACTIONS,
    WALDUR_PROVIDER_ACTIONS,
    ActionCall,
    action_refusal,
    is_success,
    native_uuid,
    parse_offering,
    plan_action,
)
from gateway.adapters.waldur.create import create_body, find_params, parse_created, pick_created
from gateway.adapters.waldur.states import WALDUR_STATES
from gateway.adapters.waldur.wire import (
    WaldurContext,
    classify_error,
    list_params,
    normalise_native_id,
    parse_list,
    parse_order,
)
from gateway.errors import ActionNotAllowedError, GatewayError, OrderNotFoundError, UnsupportedActionError
from gateway.models import Health, Order
from gateway.query import SortKey
from gateway.settings import WaldurSettings
from gateway.telemetry import note_unknown_status

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
    actions=WALDUR_PROVIDER_ACTIONS,
    can_create=True,
    can_delete=True,
    admin_actions=WALDUR_ADMIN_ACTIONS,
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
        self._ctx = WaldurContext(
            instance=instance,
            currency=settings.currency,
            upstream_origin=url_origin(self._base),
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
        return await probe_health(
            self._get("marketplace-orders/", [("page_size", "1")], method="HEAD"),
            self.instance,
            classify_error,
        )

    async def create_order(self, draft: OrderDraft) -> Order:
        body = create_body(draft, self._base)
        response = await self._send("POST", "marketplace-orders/", json=body)
        return parse_created(self._ctx, response.status_code, response.content)

    async def find_created(self, draft: OrderDraft) -> Order | None:
        response = await self._send("GET", "marketplace-orders/", params=find_params(draft))
        chunk = parse_list(self._ctx, response.status_code, response.headers, response.content)
        return pick_created(chunk.orders, draft.marker)

    async def perform(self, native_id: str, action: str, payload: Mapping[str, Any]) -> ActionOutcome:
        call = plan_action(action, payload)
        uuid = native_uuid(native_id)
        path = f"marketplace-orders/{uuid}/{call.path}"
        if call.reads_offering:
            response = await self._send("GET", path)
            offering = parse_offering(self._ctx, response.status_code, response.content)
            return ActionOutcome(order=await self.get_order(uuid), resource=offering)
        response = await self._send(call.method, path, json=call.json, files=call.files)
        if not is_success(response.status_code):
            raise await self._refusal(uuid, action, call, response)
        if call.gone:
            return ActionOutcome(order=None)
        return ActionOutcome(order=await self.get_order(uuid))

    async def _refusal(
        self, uuid: str, action: str, call: ActionCall, response: httpx.Response
    ) -> GatewayError:
        error = action_refusal(self.instance, response.status_code, response.content)
        if not isinstance(error, OrderNotFoundError) or call.method == "DELETE":
            return error
        # A 404 from an action endpoint: the order is gone, or (it still reads) the server has
        # no such endpoint, or — delete_attachment — the order has no attachment (§6).
        await self.get_order(uuid)
        if action == "delete_attachment":
            return ActionNotAllowedError("The order has no attachment.")
        return UnsupportedActionError("This provider does not offer this action.")

    async def _get(
        self, path: str, params: list[tuple[str, str]] | None, *, method: str = "GET"
    ) -> httpx.Response:
        return await self._send(method, path, params=params)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json: dict[str, Any] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> httpx.Response:
        return await send_upstream(
            self._client,
            self.instance,
            self._settings,
            method,
            self._base + path,
            params=tuple(params) if params else None,
            json=json,
            files=files,
            headers=self._headers,
        )

    def _warn_unknown_states(self, orders: tuple[Order, ...]) -> None:
        for order in orders:
            state = order.provider_status
            if state in WALDUR_STATES:
                continue
            note_unknown_status(self.instance)
            if state not in self._unknown_states:
                self._unknown_states.add(state)
                log.warning("unknown Waldur state %r at %s; mapped to the fallback", state, self.instance)
