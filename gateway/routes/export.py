"""``GET /orders/export``: the whole merged listing as one NDJSON stream, a page at a time."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator

import orjson
from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.auth import require_scope
from gateway.deadline import new_deadline, remaining
from gateway.errors import GatewayError, InvalidQueryError
from gateway.middleware.request_id import request_id_of
from gateway.middleware.telemetry import trace_id_of
from gateway.models import Order, OrderPage
from gateway.principal import Principal
from gateway.problems import problem_body
from gateway.query import MAX_LIMIT, OrderQuery, parse_order_query, parse_query_string
from gateway.routes.orders import wants_refresh
from gateway.service import OrderService

NDJSON_MEDIA_TYPE = "application/x-ndjson"
EXPORT_PAGE_SIZE = MAX_LIMIT  # orders fetched, held and sent at once: memory stays one page
ORDER_JSON = TypeAdapter(Order)
log = logging.getLogger("gateway.export")


def parse_export_query(pairs: list[tuple[str, str]]) -> OrderQuery:
    """The ``GET /orders`` parameters without ``limit``; ``require`` is always ``all``."""
    names = {name for name, _ in pairs}
    if "limit" in names:
        raise InvalidQueryError(
            "'limit' does not apply to an export: it streams every matching order.", parameter="limit"
        )
    query = parse_order_query(pairs)
    if "require" in names and not query.require_all:
        raise InvalidQueryError(
            "An export always needs every instance (require=all): a failure ends the stream "
            "with a cursor to resume from, so no order is skipped or sent out of order.",
            parameter="require",
        )
    return dataclasses.replace(query, limit=EXPORT_PAGE_SIZE, require_all=True)


async def export_orders(request: Request) -> Response:
    principal = require_scope(request, "orders:read")
    query = parse_export_query(parse_query_string(request.scope["query_string"]))
    pager = _Pager(
        request.app.state.orders,
        principal,
        refresh=wants_refresh(request, principal),
        # Each page gets what this request was given (the server's limit, or the caller's
        # shorter Request-Timeout): the stream as a whole has no time limit.
        budget_s=remaining(),
    )
    # The first page is fetched before answering, so a bad cursor or an outage is an
    # ordinary problem response with its own status, not a 200 with an error line.
    first = await pager.page(query)
    return StreamingResponse(
        _lines(pager, query, first, (request_id_of(request.scope) or "", trace_id_of(request.scope))),
        media_type=NDJSON_MEDIA_TYPE,
        headers={"Cache-Control": "private, no-store"},
    )


async def _lines(
    pager: _Pager, query: OrderQuery, page: OrderPage, ids: tuple[str, str | None]
) -> AsyncIterator[bytes]:
    """One chunk per page, one order per line; a failure after the first page ends the
    stream with ``{"error": <problem>, "next_cursor": <cursor to resume from>}``."""
    while True:
        if page.data:
            yield _ndjson(page)
        if page.next_cursor is None:
            return
        resume = page.next_cursor
        try:
            page = await pager.page(dataclasses.replace(query, cursor=resume))
        except GatewayError as exc:
            log.warning("export stopped: %s (%s)", exc.type, exc.detail, exc_info=exc.__cause__ is not None)
            yield _error_line(exc, resume, ids)
            return
        except Exception as exc:  # a bug: logged; the caller still learns where to resume
            log.error("export failed unexpectedly", exc_info=exc)
            yield _error_line(GatewayError("The gateway failed unexpectedly; see its logs."), resume, ids)
            return


def _ndjson(page: OrderPage) -> bytes:
    # JSON escapes newlines inside strings, so each order is exactly one line.
    return b"".join(ORDER_JSON.dump_json(order) + b"\n" for order in page.data)


def _error_line(error: GatewayError, resume: str, ids: tuple[str, str | None]) -> bytes:
    """The stream's last line: the problem (with the request's and trace's ids) and the cursor."""
    return orjson.dumps({"error": problem_body(error, *ids), "next_cursor": resume}) + b"\n"


@dataclasses.dataclass(frozen=True, slots=True)
class _Pager:
    """Fetches one page of the listing as if it were a request of its own."""

    service: OrderService
    principal: Principal
    refresh: bool
    budget_s: float

    async def page(self, query: OrderQuery) -> OrderPage:
        # The request's deadline can only shrink: left alone, it would end the stream after
        # ``request_timeout_s``. Each page is a request of its own, with a deadline of its own.
        with new_deadline(self.budget_s):
            return await self.service.list_orders(self.principal, query, refresh=self.refresh)


ROUTES = [Route("/orders/export", export_orders, methods=["GET"])]
