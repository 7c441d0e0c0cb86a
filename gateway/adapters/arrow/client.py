"""The async shell of the Arrow adapter: HTTP calls on the shared client, wire functions around them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx
import orjson

from gateway.adapters.arrow.actions import (
    ARROW_ACTIONS,
    READ_ACTIONS,
    AddAttachmentPayload,
    check_action,
    validate_payload,
)
from gateway.adapters.arrow.drafts import carries_marker, check_create_answer, create_body, validate_draft
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
from gateway.adapters.arrow.wire_actions import (
    MAX_ATTACHMENT_PAGES,
    ActionCall,
    action_call,
    check_action_answer,
    parse_added_attachment,
    parse_attachments,
    parse_history,
)
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
from gateway.errors import (
    GatewayError,
    NotFoundError,
    OrderNotFoundError,
    OutcomeUncertainError,
    ValidationFailedError,
)
from gateway.models import Health, Order
from gateway.query import Filters, SortKey
from gateway.settings import ArrowSettings
from gateway.telemetry import note_unknown_status

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
    actions=ARROW_ACTIONS,  # §4; approve, reject, delete and offering have no Arrow counterpart
    can_create=True,
    can_delete=False,
    read_actions=frozenset(READ_ACTIONS),
)
# `find_created` looks for its marker among this many of the newest orders (pages of 100).
FIND_PAGES = 2


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
        self._ctx = ArrowContext(
            instance=instance,
            zone=ZoneInfo(settings.timezone),
            upstream_origin=url_origin(self._base),
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

    async def create_order(self, draft: OrderDraft) -> Order:
        """POST a CreateOrder body (§6), then read the order it made: the answer holds only its reference."""
        content = orjson.dumps(create_body(draft))  # validated: ValidationFailedError before any call
        response = await self._call("POST", "orders", content=content)
        check_create_answer(response.status_code, response.content)
        reference = parse_created(self._ctx, response.status_code, response.content)
        try:
            return await self.get_order(reference)
        except GatewayError as exc:
            # The order exists; only reading it back failed. Reported as uncertain, so a keyed
            # retry finds it by its marker instead of creating a second one.
            raise OutcomeUncertainError(
                "The provider created the order but it could not be read back.", provider=self.instance
            ) from exc

    async def find_created(self, draft: OrderDraft) -> Order | None:
        try:
            customer = validate_draft(draft).customer
        except ValidationFailedError:
            return None  # such a create fails before any call: nothing was made
        position: str | None = None
        for _ in range(FIND_PAGES):  # newest first: a recent create is on the first page
            chunk = await self.list_orders(ListRequest(Filters(), SortKey.CREATED_DESC, 100, position))
            found = next((o for o in chunk.orders if carries_marker(o, draft.marker, customer)), None)
            if found is not None or chunk.next_position is None:
                return found
            position = chunk.next_position
        return None

    async def perform(self, native_id: str, action: str, payload: Mapping[str, Any]) -> ActionOutcome:
        check_action(action)
        valid = validate_payload(action, payload)
        if not is_native_id(native_id):
            raise OrderNotFoundError("No such order.")
        if action == "history":
            order = await self.get_order(native_id)
            response = await self._send(action_call(native_id, action, valid))
            return ActionOutcome(order, parse_history(self._ctx, response.status_code, response.content))
        if action == "attachments":
            return ActionOutcome(await self.get_order(native_id), await self._attachments(native_id, valid))
        response = await self._send(action_call(native_id, action, valid))
        if action == "delete_attachment" and response.status_code == 404:
            await self.get_order(native_id)  # OrderNotFoundError when the order is what is missing
            raise NotFoundError("The order has no attachment of that name.")
        resource: Any = None
        if isinstance(valid, AddAttachmentPayload):
            resource = parse_added_attachment(self._ctx, response.status_code, response.content)
        else:
            check_action_answer(self.instance, response.status_code, response.content)
        # A state or metadata change: the order as it is now.
        return ActionOutcome(await self.get_order(native_id), resource)

    async def _attachments(self, reference: str, valid: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in range(1, MAX_ATTACHMENT_PAGES + 1):
            response = await self._send(action_call(reference, "attachments", valid, page=page))
            rows, more = parse_attachments(self._ctx, response.status_code, response.content)
            found += rows
            if not more:
                break
        return found

    async def _send(self, call: ActionCall) -> httpx.Response:
        return await self._call(call.method, call.path, params=call.params, content=call.body)

    async def check_health(self) -> Health:
        return await probe_health(
            self._call("GET", "orders", params=[("per_page", "1")]),
            self.instance,
            classify_error,
            healthy=lambda status: 200 <= status < 300,
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        return await send_upstream(
            self._client,
            self.instance,
            self._settings,
            method,
            self._base + path,
            params=tuple(params) if params else None,
            content=content,
            headers=self._headers,
        )

    def _warn_unknown_states(self, orders: tuple[Order, ...]) -> None:
        for order in orders:
            state = order.provider_status
            if is_known_state(state):
                continue
            note_unknown_status(self.instance)
            folded = state.casefold()
            if folded not in self._unknown_states:
                self._unknown_states.add(folded)
                log.warning("unknown Arrow status %r at %s; mapped to the fallback", state, self.instance)
