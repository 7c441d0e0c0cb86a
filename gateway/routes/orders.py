"""Order endpoints: ``GET /orders``, ``GET /orders/statuses`` and ``GET /orders/{id}``."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.adapters.registry import STATUS_TABLES
from gateway.auth import require_scope
from gateway.models import OrderPage, Status
from gateway.query import parse_order_query, parse_query_string
from gateway.routes.rendering import json_response
from gateway.service import OrderService


def _service(request: Request) -> OrderService:
    service: OrderService = request.app.state.orders
    return service


async def list_orders(request: Request) -> Response:
    principal = require_scope(request, "orders:read")
    pairs = parse_query_string(request.scope["query_string"])
    query = parse_order_query(pairs)
    page = await _service(request).list_orders(principal, query)
    return render_page(request, pairs, page)


async def get_order(request: Request) -> Response:
    principal = require_scope(request, "orders:read")
    order = await _service(request).get_order(principal, request.path_params["order_id"])
    return json_response(order)


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
    return json_response(page, headers=headers)


ROUTES = [
    Route("/orders", list_orders, methods=["GET"]),
    Route("/orders/statuses", list_statuses, methods=["GET"]),
    Route("/orders/{order_id}", get_order, methods=["GET"]),
]
