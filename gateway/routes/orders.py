"""Order endpoints: ``GET /orders``, ``GET /orders/statuses`` and ``GET /orders/{id}``."""

from __future__ import annotations

from urllib.parse import urlencode

from cachetools import LRUCache
from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.adapters.registry import STATUS_TABLES
from gateway.auth import require_scope
from gateway.models import Order, OrderPage, Status
from gateway.principal import Principal
from gateway.query import parse_order_query, parse_query_string
from gateway.routes.rendering import (
    cache_headers,
    conditional_response,
    json_response,
    strong_etag,
    weak_etag,
)
from gateway.service import OrderService


def _service(request: Request) -> OrderService:
    service: OrderService = request.app.state.orders
    return service


async def list_orders(request: Request) -> Response:
    principal = require_scope(request, "orders:read")
    pairs = parse_query_string(request.scope["query_string"])
    query = parse_order_query(pairs)
    page = await _service(request).list_orders(principal, query, refresh=wants_refresh(request, principal))
    return render_page(request, pairs, page)


async def get_order(request: Request) -> Response:
    principal = require_scope(request, "orders:read")
    order, outcome = await _service(request).read_order(
        principal, request.path_params["order_id"], refresh=wants_refresh(request, principal)
    )
    body = order.model_dump_json().encode()
    return conditional_response(request, body, strong_etag(body), headers=cache_headers(outcome))


def wants_refresh(request: Request, principal: Principal) -> bool:
    """``Cache-Control: no-cache`` refetches for callers who may write; a read-only key's
    request is answered from the cache all the same (it cannot make the gateway hammer
    upstreams by asking)."""
    directives = {d.strip().lower() for d in request.headers.get("cache-control", "").split(",")}
    return "no-cache" in directives and "orders:write" in principal.scopes


async def list_statuses(request: Request) -> Response:
    """The normalised statuses and, per upstream vocabulary, the states behind each one."""
    require_scope(request, "orders:read")
    return json_response(
        {
            "statuses": [status.value for status in Status],
            "vocabularies": {
                name: {
                    "mapping": {
                        status.value: sorted(
                            state for state, mapped in table.states.items() if mapped is status
                        )
                        for status in Status
                    },
                    "fallback": table.fallback.value,
                }
                for name, table in STATUS_TABLES.items()
            },
        }
    )


def render_page(request: Request, pairs: list[tuple[str, str]], page: OrderPage) -> Response:
    headers: dict[str, str] = {}
    if page.next_cursor is not None:
        kept = [(k, v) for k, v in pairs if k != "cursor"] + [("cursor", page.next_cursor)]
        headers["Link"] = f'<{request.url.replace(query=urlencode(kept))}>; rel="next"'
    if any(report.status == "error" for report in page.providers.values()):
        headers["X-Partial-Response"] = "true"
    opening, etag = RENDERED.render(page)
    rest = page.model_dump_json(exclude={"data"}).encode()
    body = opening + rest[1:]  # the page's other members follow its orders
    if page.cache is not None:
        headers.update(cache_headers(page.cache))
    return conditional_response(request, body, etag, headers=headers)


ORDER_LIST = TypeAdapter(tuple[Order, ...])
RENDERED_BYTES = 8 * 1024 * 1024  # the JSON of recently reused pages' orders, at most


class RenderedOrders:
    """The opening of a page's JSON (``{"data":[...],``), with the weak ETag over its orders
    alone (the same orders make the same page, though timings and cursor stamps differ). A
    page the service reused from its page memo brings the very same orders tuple again: that
    tuple is rendered once."""

    def __init__(self, max_bytes: int = RENDERED_BYTES) -> None:
        self._held: LRUCache[int, tuple[tuple[Order, ...], bytes, str]] = LRUCache(
            maxsize=max_bytes, getsizeof=lambda held: len(held[1])
        )

    def render(self, page: OrderPage) -> tuple[bytes, str]:
        held = self._held.get(id(page.data))
        if held is not None and held[0] is page.data:  # the tuple it keeps alive: ids not reused
            return held[1], held[2]
        data = ORDER_LIST.dump_json(page.data)
        opening, etag = b'{"data":' + data + b",", weak_etag(data + str(page.has_more).encode())
        # Not the empty tuple: Python has one, shared by every empty page whatever its has_more.
        if (
            page.data
            and page.cache is not None
            and page.cache.source == "hit"
            and len(data) <= self._held.maxsize
        ):
            self._held[id(page.data)] = (page.data, opening, etag)
        return opening, etag


RENDERED = RenderedOrders()


ROUTES = [
    Route("/orders", list_orders, methods=["GET"]),
    Route("/orders/statuses", list_statuses, methods=["GET"]),
    Route("/orders/{order_id}", get_order, methods=["GET"]),
]
