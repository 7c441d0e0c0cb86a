"""A simulated ArrowSphere speaking the xSP orders API (``shared/upstreams/arrow.md``).

``create_arrow_sim(token=...)`` returns a Starlette app serving, under ``/index.php/api``:

- ``GET /orders`` — filtered, sorted, page-number paginated list (§5);
- ``GET /orders/{reference}`` — one order, as a one-element ``orders`` list (§4);
- ``POST /orders`` — CreateOrder (§6), answering only ``{reference, link}``;
- ``PATCH /orders/{reference}`` and ``/cancel``, ``/validate``, ``/resubmit``, ``/archive``,
  ``/rejectGraded``, ``/contributor``, ``/additionalInformation`` (§4, §8);
- ``GET /orders/{reference}/history``; ``GET``/``POST /orders/{reference}/attachment``,
  ``DELETE /orders/{reference}/attachment/{name}``;

with the ``apiKey`` header (§1), every answer in the ``{status, data[, pagination]}``
envelope (§3) and every refusal in ``{status, error, messages}`` (§7), wrapped in
`FaultMiddleware` (``/__sim__/faults``). ``app.state.store`` is the `ArrowStore`,
``app.state.faults`` the `FaultController`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.sim.arrow_actions import (
    TRANSITIONS,
    RefusedError,
    add_attachment,
    delete_attachment,
    perform_action,
    set_additional_information,
    set_contributors,
    update_order,
)
from gateway.sim.arrow_catalogue import API_USER
from gateway.sim.arrow_create import create_order
from gateway.sim.arrow_data import ArrowOrder, ArrowStore, wire_now
from gateway.sim.arrow_filters import (
    InvalidFilterError,
    OrderSelection,
    page_of,
    parse_order_list_query,
)
from gateway.sim.arrow_render import render_attachment, render_history, render_order
from gateway.sim.arrow_seed import build_arrow_store
from gateway.sim.faults import FaultController, FaultMiddleware

Clock = Callable[[], datetime]
Handler = Callable[[Request, bytes], Response]

API = "/index.php/api"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}
# PATCH /orders/{reference}/{name}: the lifecycle actions and the metadata updates.
METADATA_ACTIONS = {"contributor": set_contributors, "additionalInformation": set_additional_information}


def create_arrow_sim(
    *,
    orders: int = 500,
    seed: int = 1,
    token: str,
    latency_ms: int = 0,
    clock: Clock | None = None,
) -> Starlette:
    """A simulated Arrow with ``orders`` seeded orders, answering only ``apiKey: <token>``."""
    clock = clock or _utc_now
    store = build_arrow_store(orders=orders, seed=seed, now=clock())
    api = ArrowApi(store, token=token, clock=clock)
    faults = FaultController(seed=seed)
    routes = [
        Route(f"{API}/orders", api.order_collection, methods=ALL_METHODS),
        Route(f"{API}/orders/{{reference}}", api.order_item, methods=ALL_METHODS),
        Route(f"{API}/orders/{{reference}}/history", api.order_history, methods=ALL_METHODS),
        Route(f"{API}/orders/{{reference}}/attachment", api.attachments, methods=ALL_METHODS),
        Route(f"{API}/orders/{{reference}}/attachment/{{name}}", api.attachment, methods=ALL_METHODS),
        Route(f"{API}/orders/{{reference}}/{{action}}", api.order_action, methods=ALL_METHODS),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(FaultMiddleware, latency_ms=latency_ms, controller=faults)],
        exception_handlers={HTTPException: _render_http_exception},
    )
    app.router.redirect_slashes = False
    app.state.store = store
    app.state.faults = faults
    return app


def _utc_now() -> datetime:
    return datetime.now(UTC)


def envelope(data: Any, status: int = 200, pagination: Mapping[str, Any] | None = None) -> Response:
    """A success answer in Arrow's envelope (§3)."""
    body: dict[str, Any] = {"status": status, "data": data}
    if pagination is not None:
        body["pagination"] = pagination
    return Response(orjson.dumps(body), status, media_type="application/json")


def refusal(status: int, messages: str | list[str], headers: Mapping[str, str] | None = None) -> Response:
    """An error answer in Arrow's error envelope (§7)."""
    body = {"status": status, "error": REASONS.get(status, "Error"), "messages": messages}
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


async def _render_http_exception(request: Request, exc: Exception) -> Response:
    # Routing refusals only: paths no route knows.
    assert isinstance(exc, HTTPException)
    return refusal(exc.status_code, "No route matches this request.", exc.headers)


class ArrowApi:
    """The endpoints over one store; ``clock`` stamps creations and status changes."""

    def __init__(self, store: ArrowStore, *, token: str, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._token = token.encode()
        self._selection = OrderSelection(store)

    def now(self) -> datetime:
        return wire_now(self.clock())

    # --- routes ---

    async def order_collection(self, request: Request) -> Response:
        return await self._dispatch(request, {"GET": self._list_orders, "POST": self._create_order})

    async def order_item(self, request: Request) -> Response:
        return await self._dispatch(request, {"GET": self._read_order, "PATCH": self._update_order})

    async def order_history(self, request: Request) -> Response:
        return await self._dispatch(request, {"GET": self._history})

    async def attachments(self, request: Request) -> Response:
        return await self._dispatch(request, {"GET": self._list_attachments, "POST": self._add_attachment})

    async def attachment(self, request: Request) -> Response:
        return await self._dispatch(request, {"DELETE": self._delete_attachment})

    async def order_action(self, request: Request) -> Response:
        action = request.path_params["action"]
        if action not in TRANSITIONS and action not in METADATA_ACTIONS:
            return refusal(404, "No route matches this request.")
        return await self._dispatch(request, {"PATCH": self._act})

    async def _dispatch(self, request: Request, handlers: dict[str, Handler]) -> Response:
        # Authentication first, then the method (§1: the key goes with every request).
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        handler = handlers.get(request.method)
        if handler is None:
            allow = {"Allow": ", ".join(sorted(handlers))}
            return refusal(405, f"Method {request.method} is not allowed here.", allow)
        body = await request.body() if request.method in ("POST", "PATCH") else b""
        try:
            return handler(request, body)
        except RefusedError as exc:
            return refusal(exc.status, exc.messages)
        except InvalidFilterError as exc:
            return refusal(400, exc.messages)

    def _authenticate(self, request: Request) -> Response | None:
        """None when the ``apiKey`` header is right; otherwise a 401 envelope (§1, §7)."""
        key = request.headers.get("apikey")
        if not key:
            return refusal(401, "The apiKey header is missing.")
        if not hmac.compare_digest(key.encode(), self._token):
            return refusal(401, "The API key is not valid.")
        return None

    def _order(self, request: Request) -> ArrowOrder:
        reference = request.path_params["reference"]
        order = self.store.get(reference)
        if order is None:
            raise RefusedError(404, "Not Found", f"Order {reference} not found.")
        return order

    # --- handlers ---

    def _list_orders(self, request: Request, body: bytes) -> Response:
        query = parse_order_list_query(request.query_params.multi_items())
        orders = self._selection.select(query)
        page = page_of(orders, query)
        pagination = _pagination(request, query.page, query.per_page, len(orders))
        return envelope({"orders": [render_order(order) for order in page]}, pagination=pagination)

    def _read_order(self, request: Request, body: bytes) -> Response:
        return envelope({"orders": [render_order(self._order(request))]})

    def _create_order(self, request: Request, body: bytes) -> Response:
        order = create_order(self.store, body, now=self.now())
        return envelope({"reference": order.reference, "link": f"/api/orders/{order.reference}"})

    def _update_order(self, request: Request, body: bytes) -> Response:
        order = self._order(request)
        update_order(order, body, now=self.now(), user=API_USER)
        self.store.changed()
        return envelope({"message": f"Order {order.reference} updated."})

    def _act(self, request: Request, body: bytes) -> Response:
        order = self._order(request)
        action = request.path_params["action"]
        if action in METADATA_ACTIONS:
            METADATA_ACTIONS[action](order, body, now=self.now(), user=API_USER)
        else:
            perform_action(order, action, now=self.now(), user=API_USER)
        self.store.changed()
        return envelope({"message": f"Order {order.reference}: {action} done."})

    def _history(self, request: Request, body: bytes) -> Response:
        order = self._order(request)
        return envelope([render_history(order, entry) for entry in order.history])

    def _list_attachments(self, request: Request, body: bytes) -> Response:
        order = self._order(request)
        query = parse_order_list_query(  # only its page / per_page checks apply here
            (name, value)
            for name, value in request.query_params.multi_items()
            if name in ("page", "per_page")
        )
        attachments = sorted(order.attachments.values(), key=lambda a: a.name)
        start = (query.page - 1) * query.per_page
        shown = attachments[start : start + query.per_page]
        pagination = _pagination(request, query.page, query.per_page, len(attachments))
        return envelope({"attachments": [render_attachment(order, a) for a in shown]}, pagination=pagination)

    def _add_attachment(self, request: Request, body: bytes) -> Response:
        order = self._order(request)
        attachment = add_attachment(order, body, now=self.now(), user=API_USER)
        return envelope(render_attachment(order, attachment))

    def _delete_attachment(self, request: Request, body: bytes) -> Response:
        order = self._order(request)
        name = request.path_params["name"]
        delete_attachment(order, name, now=self.now(), user=API_USER)
        return envelope({"message": f"Attachment {name} deleted."})


def _pagination(request: Request, page: int, per_page: int, total: int) -> dict[str, Any]:
    """§5's block; ``next``/``previous`` are absolute URLs of those pages, or null."""
    total_page = max(1, -(-total // per_page))
    return {
        "per_page": per_page,
        "current_page": page,
        "total_page": total_page,
        "total": total,
        "next": _page_url(request, page + 1) if page < total_page else None,
        "previous": _page_url(request, page - 1) if page > 1 else None,
    }


def _page_url(request: Request, page: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    params.append(("page", str(page)))
    return str(request.url.replace(query=urlencode(params)))
