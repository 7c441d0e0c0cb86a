"""A simulated IVCAP speaking the order API (``shared/upstreams/ivcap.md``), in either dialect.

``create_ivcap_sim(token=...)`` returns a Starlette app. The ``current`` dialect (the API of
``ivcap-client`` 0.47 / ``ivcap-core-api``) serves, under ``/1/``:

- ``GET /1/orders`` — filtered, ordered list paged by opaque ``page`` tokens (§5);
- ``POST /1/orders`` — create, answering 200 with the new order (§4);
- ``GET /1/orders/{id}`` with the id percent-encoded (§2), ``.../products``, ``.../metadata``;
- ``GET``/``POST /1/aspects`` and ``GET /1/aspects/{id}`` — order metadata (`ivcap_aspects`);
- ``GET /1/services/{id}`` — one service (`ivcap_services`).

The ``legacy`` dialect serves the older shape of §9 at the same paths (`ivcap_legacy`).
Every API path wants ``Authorization: Bearer <token>`` (§1); the app is wrapped in
`FaultMiddleware` (``/__sim__/faults``). ``app.state.store`` is the `IvcapStore`,
``app.state.faults`` the `FaultController`.

Choices on points ivcap.md leaves open (INFERRED there), also in docs/decisions.md:

- an out-of-range ``limit`` is 422 ``InvalidParameterT``; so is an unknown ``order-by``, a
  bad ``order-desc`` or ``at-time``, and a ``page`` token this server did not issue;
  a malformed ``filter`` is 400 ``BadRequestT``;
- ``order-by`` takes ``ordered-at`` (default), ``name`` (nameless orders first) and
  ``status`` (alphabetical); ties break on the id in the same direction;
- a ``page`` token carries the filter, ordering, ``at-time`` (when given) and offset; with
  it, only ``limit`` is read from the request (default 10 again when absent);
- ``at-time`` is honoured: only orders placed by then, each with its status as of then;
- products are listed (and embedded in a read) once an order has succeeded; sub-lists sort
  by ``name`` (products) or ``valid-from`` (metadata), ``order-desc`` defaulting to true;
- create validates the body: not a JSON object or a missing/mistyped field is 400,
  a ``service``/``policy`` that is not a URN of its kind 422, an unknown service 404;
  parameters need both ``name`` and ``value`` strings;
- any valid token has every scope (no 403); ``logs`` and ``top`` answer 501.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.sim.faults import FaultController, FaultMiddleware
from gateway.sim.ivcap_aspects import AspectApi, order_metadata
from gateway.sim.ivcap_data import IvcapOrder, IvcapStore, Product, is_urn
from gateway.sim.ivcap_filters import (
    FilterSyntaxError,
    OrderQuery,
    OrderSelection,
    decode_token,
    encode_token,
    parse_filter,
)
from gateway.sim.ivcap_http import (
    DEFAULT_LIMIT,
    FAILURE_BODY,
    Clock,
    Paging,
    bad_request,
    base_url,
    bool_text,
    format_time,
    guarded,
    invalid_parameter,
    is_offset,
    is_record,
    json_object,
    json_response,
    link,
    not_found,
    not_implemented,
    page_links,
    parse_bool,
    parse_limit,
    parse_time,
    path_segments,
    read_paging,
    render_http_exception,
)
from gateway.sim.ivcap_legacy import legacy_routes
from gateway.sim.ivcap_seed import build_ivcap_store
from gateway.sim.ivcap_services import ServiceApi

FILTER_FIELDS = {
    "name": "name",
    "status": "status",
    "service": "service",
    "account": "account",
    "ordered-at": "ordered_at",
}
SORT_FIELDS = {"ordered-at": "ordered_at", "name": "name", "status": "status"}
PRODUCT_SORTS: dict[str, Callable[[Product], Any]] = {
    "name": lambda p: p.name,
    "size": lambda p: p.size,
    "mime-type": lambda p: p.mime_type,
}


def create_ivcap_sim(
    *,
    orders: int = 500,
    seed: int = 1,
    token: str,
    latency_ms: int = 0,
    clock: Callable[[], datetime] | None = None,
    dialect: Literal["current", "legacy"] = "current",
) -> Starlette:
    """A simulated IVCAP with ``orders`` seeded orders, answering only ``Bearer <token>``."""
    clock = clock or _utc_now
    store = build_ivcap_store(orders=orders, seed=seed, now=clock())
    faults = FaultController(seed=seed)
    if dialect == "legacy":
        routes = legacy_routes(store, token=token, clock=clock)
    else:
        api, aspects = IvcapApi(store, clock=clock), AspectApi(store, clock=clock)
        services = ServiceApi(store)
        routes = [
            Route("/1/orders", guarded(token, api.list_orders), methods=["GET"]),
            Route("/1/orders", guarded(token, api.create_order), methods=["POST"]),
            Route("/1/orders/{rest:path}", guarded(token, api.order_resource), methods=["GET"]),
            Route("/1/aspects", guarded(token, aspects.list_aspects), methods=["GET"]),
            Route("/1/aspects", guarded(token, aspects.create_aspect), methods=["POST"]),
            Route("/1/aspects/{rest:path}", guarded(token, aspects.read_aspect), methods=["GET"]),
            Route("/1/services/{rest:path}", guarded(token, services.read_service), methods=["GET"]),
        ]
    middleware = [
        Middleware(FaultMiddleware, latency_ms=latency_ms, controller=faults, failure_body=FAILURE_BODY)
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: render_http_exception},
    )
    app.router.redirect_slashes = False
    app.state.store = store
    app.state.faults = faults
    return app


def _utc_now() -> datetime:
    return datetime.now(UTC)


def order_href(base: str, order_id: str) -> str:
    return f"{base}/1/orders/{order_id}"  # the URN as is, as in the §3 examples


def render_item(order: IvcapOrder, at: datetime, base: str) -> dict[str, Any]:
    """One ``OrderListItem`` (§3); optional keys are left out rather than null."""
    body: dict[str, Any] = {"id": order.id}
    if order.name is not None:
        body["name"] = order.name
    body |= {
        "status": order.status_at(at),
        "service": order.service.id,
        "account": order.account.id,
        "href": order_href(base, order.id),
        "ordered-at": format_time(order.ordered_at),
    }
    for key, moment in (("started-at", order.started_at(at)), ("finished-at", order.finished_at(at))):
        if moment is not None:
            body[key] = format_time(moment)
    return body


def render_status(order: IvcapOrder, at: datetime, base: str) -> dict[str, Any]:
    """One ``OrderStatusRT`` (§3): the list item's fields, parameters, tags, links, products."""
    body = render_item(order, at, base)
    href = body.pop("href")
    paging = Paging(limit=DEFAULT_LIMIT, order_by="name", descending=True, offset=0)
    products = sorted_products(order, at, paging)
    next_token = paging.next_token(len(products))
    return body | {
        "parameters": [{"name": name, "value": value} for name, value in order.parameters],
        "tags": list(order.tags),
        "links": [link("self", href)],
        "products": {  # the first page of .../products; a `next` link when there are more
            "items": [render_product(p, base) for p in paging.window(products)],
            "links": [] if next_token is None else [link("next", f"{href}/products?page={next_token}")],
        },
    }


def sorted_products(order: IvcapOrder, at: datetime, paging: Paging) -> list[Product]:
    rows = sorted(order.products_at(at), key=lambda p: p.id, reverse=paging.descending)
    return sorted(rows, key=PRODUCT_SORTS[paging.order_by], reverse=paging.descending)


def render_product(product: Product, base: str) -> dict[str, Any]:
    href = f"{base}/1/artifacts/{product.id}"
    return {
        "id": product.id,
        "name": product.name,
        "status": "ready",
        "mime-type": product.mime_type,
        "size": product.size,
        "href": href,
        "data-href": f"{href}/blob",
    }


class IvcapApi:
    """The current dialect's order endpoints over one store."""

    def __init__(self, store: IvcapStore, *, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._selection = OrderSelection(store, lambda order, at: order.status_at(at))

    async def list_orders(self, request: Request) -> Response:
        params = request.query_params
        limit = parse_limit(params.get("limit"))
        token = params.get("page")
        state = self._state_from_token(token) if token is not None else self._state_from_params(params)
        try:
            clauses = parse_filter(state["f"], FILTER_FIELDS)
        except FilterSyntaxError as exc:
            raise bad_request(f"invalid filter: {exc}") from exc
        at = parse_time(state["t"], "at-time") if state["t"] is not None else self.clock()
        query = OrderQuery(clauses, ((SORT_FIELDS[state["o"]], state["d"]),))
        rows = self._selection.select(query, at)
        offset, base = state["n"], base_url(request)
        first = [("limit", str(limit)), ("order-by", state["o"]), ("order-desc", bool_text(state["d"]))]
        first += [(name, state[key]) for name, key in (("filter", "f"), ("at-time", "t")) if state[key]]
        next_token = encode_token(state | {"n": offset + limit}) if offset + limit < len(rows) else None
        body = {
            "items": [render_item(order, at, base) for order in rows[offset : offset + limit]],
            "links": page_links(request, f"{base}/1/orders", first, next_token),
            "at-time": format_time(at),
        }
        return json_response(body)

    @staticmethod
    def _state_from_params(params: Any) -> dict[str, Any]:
        order_by = params.get("order-by") or "ordered-at"
        if order_by not in SORT_FIELDS:
            raise invalid_parameter(
                "order-by", f"'order-by' must be one of: {', '.join(SORT_FIELDS)}", order_by
            )
        at_time = params.get("at-time") or None
        if at_time is not None:
            parse_time(at_time, "at-time")
        return {
            "f": params.get("filter", ""),
            "o": order_by,
            "d": parse_bool(params.get("order-desc"), "order-desc", default=True),
            "t": at_time,
            "n": 0,
        }

    @staticmethod
    def _state_from_token(token: str) -> dict[str, Any]:
        state = decode_token(token)
        if (
            state is None
            or not isinstance(state.get("f"), str)
            or state.get("o") not in SORT_FIELDS
            or not isinstance(state.get("d"), bool)
            or not (state.get("t") is None or isinstance(state.get("t"), str))
            or not is_offset(state.get("n"))
        ):
            raise invalid_parameter("page", "'page' is not a token this server issued", token)
        return state

    async def create_order(self, request: Request) -> Response:
        body = json_object(await request.body())
        service_id, parameters = body.get("service"), body.get("parameters")
        if not isinstance(service_id, str):
            raise bad_request("'service' is required: the URN of the service to order")
        if not isinstance(parameters, list) or not all(is_record(p, name=str, value=str) for p in parameters):
            raise bad_request('\'parameters\' is required: a list of {"name": ..., "value": ...} strings')
        name, tags, policy = body.get("name"), body.get("tags", []), body.get("policy")
        if name is not None and not isinstance(name, str):
            raise bad_request("'name' must be a string")
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise bad_request("'tags' must be a list of strings")
        for field, value in (("service", service_id), ("policy", policy)):
            if value is not None and not is_urn(value, field):
                raise invalid_parameter(field, f"'{field}' must be a urn:ivcap:{field}:<uuid>", str(value))
        service = self.store.service(service_id)
        if service is None:
            raise not_found(service_id, "service not found")
        now = self.clock()
        pairs = [(p["name"], p["value"]) for p in parameters]
        order = self.store.create_order(service, now=now, name=name, parameters=pairs, tags=tags)
        return json_response(render_status(order, now, base_url(request)))

    async def order_resource(self, request: Request) -> Response:
        order_id, *rest = path_segments(request, "/1/orders/")
        if rest not in ([], ["products"], ["metadata"], ["logs"], ["top"]):
            raise not_found(request.url.path, "Not found.")
        order = self.store.get(order_id)
        if order is None:
            raise not_found(order_id, "order not found")
        now, base = self.clock(), base_url(request)
        if not rest:
            return json_response(render_status(order, now, base))
        if rest == ["products"]:
            paging = read_paging(request.query_params, fields=PRODUCT_SORTS, default="name")
            rows = sorted_products(order, now, paging)
            collection = f"{order_href(base, order.id)}/products"
            links = page_links(request, collection, paging.first_query(), paging.next_token(len(rows)))
            return json_response(
                {"items": [render_product(p, base) for p in paging.window(rows)], "links": links}
            )
        if rest == ["metadata"]:
            return order_metadata(request, self.store, order.id, now, collection=order_href(base, order.id))
        raise not_implemented(f"'{rest[0]}' is not implemented by the simulator")
