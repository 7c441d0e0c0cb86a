"""Order endpoints: ``GET /orders``, ``GET /orders/statuses`` and ``GET /orders/{id}``."""

from __future__ import annotations

import functools
from urllib.parse import urlencode

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
    rendered,
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
    body, etag = ORDERS.get(order, lambda: order_body(order), keep=outcome.source == "hit")
    return conditional_response(request, body, etag, headers=cache_headers(outcome))


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
        kept = _encoded(tuple((k, v) for k, v in pairs if k != "cursor"))
        # A cursor is URL-safe base64 and a dot: urlencode would leave it as it is.
        after = f"{kept}&cursor={page.next_cursor}" if kept else f"cursor={page.next_cursor}"
        headers["Link"] = f'<{request.url.replace(query=after)}>; rel="next"'
    if any(report.status == "error" for report in page.providers.values()):
        headers["X-Partial-Response"] = "true"
    # Not the empty tuple: Python has one, shared by every empty page whatever its has_more.
    reused = bool(page.data) and page.cache is not None and page.cache.source == "hit"
    opening, etag = PAGES.get(page.data, lambda: page_opening(page), keep=reused)
    rest = page.model_dump_json(exclude={"data"}).encode()
    body = opening + rest[1:]  # the page's other members follow its orders
    if page.cache is not None:
        headers.update(cache_headers(page.cache))
    return conditional_response(request, body, etag, headers=headers)


@functools.lru_cache(maxsize=256)  # the few queries callers page through, encoded once each
def _encoded(pairs: tuple[tuple[str, str], ...]) -> str:
    return urlencode(pairs)


ORDER_LIST = TypeAdapter(tuple[Order, ...])
# What recently reused answers rendered to, at most: a page reused by the service's page memo
# brings the very same orders tuple again, a cached order the very same (narrowed) object.
PAGES = rendered(max_bytes=8 * 1024 * 1024)
ORDERS = rendered(max_bytes=4 * 1024 * 1024)


def page_opening(page: OrderPage) -> tuple[bytes, str]:
    """The opening of a page's JSON (``{"data":[...],``), with the weak ETag over its orders
    alone (the same orders make the same page, though timings and cursor stamps differ)."""
    data = ORDER_LIST.dump_json(page.data)
    return b'{"data":' + data + b",", weak_etag(data + str(page.has_more).encode())


def order_body(order: Order) -> tuple[bytes, str]:
    body = order.model_dump_json().encode()
    return body, strong_etag(body)


ROUTES = [
    Route("/orders", list_orders, methods=["GET"]),
    Route("/orders/statuses", list_statuses, methods=["GET"]),
    Route("/orders/{order_id}", get_order, methods=["GET"]),
]
