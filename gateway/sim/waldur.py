"""A simulated Waldur speaking the marketplace-orders HTTP API (``shared/upstreams/waldur.md``).

``create_waldur_sim(token=...)`` returns a Starlette app serving, under ``/api/``:

- ``GET``/``HEAD /api/marketplace-orders/`` — filtered (§5), ordered, page-number
  paginated list: bare JSON array, ``X-Result-Count`` and ``Link`` headers;
- ``POST /api/marketplace-orders/`` — create (§4), 201 with the new ``pending-consumer`` order;
- ``GET /api/marketplace-orders/{uuid}/`` — one order (hex or dashed uuid);
  ``DELETE`` — delete a pending order (204);
- ``POST /api/marketplace-orders/{uuid}/{action}/`` — ``approve_by_consumer``,
  ``approve_by_provider``, ``reject_by_consumer``, ``reject_by_provider``, ``cancel``,
  ``set_state_executing``, ``set_state_done``, ``set_state_erred``, ``set_backend_id``,
  ``update_attachment``, ``delete_attachment``, ``unlink`` and ``retry``, with the §6 state
  machine (``waldur_actions.py``); ``GET /api/marketplace-orders/{uuid}/offering/``;
- ``GET /media/marketplace_order_attachments/{uuid}/{name}`` — an uploaded attachment
  (served without authentication, as a media server would);

with Waldur's token authentication (§1) and DRF-shaped errors (§7), wrapped in
`FaultMiddleware` (``/__sim__/faults``). The token's user is staff unless ``staff=False``
(then ``unlink`` is 403 and ``error_traceback`` is hidden). ``app.state.store`` is the
`WaldurStore`, ``app.state.faults`` the `FaultController`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.sim.faults import FaultController, FaultMiddleware
from gateway.sim.waldur_data import WaldurOrder, WaldurStore, build_waldur_store
from gateway.sim.waldur_filters import InvalidFilterError, OrderSelection, parse_order_list_query
from gateway.sim.waldur_render import drf_response, render_order, trim_fields
from gateway.sim.waldur_writes import (
    ATTACHMENT_ROUTE,
    ORDER_ACTIONS,
    ORDER_VIEWS,
    WaldurWrites,
    not_found_detail,
)

Clock = Callable[[], datetime]
Handler = Callable[[Request], Awaitable[Response]]

DEFAULT_PAGE_SIZE = 10  # §5: PAGE_SIZE
MAX_PAGE_SIZE = 300  # §5: LinkHeaderPagination.max_page_size
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
NOT_PROVIDED = "Authentication credentials were not provided."


def create_waldur_sim(
    *,
    orders: int = 500,
    seed: int = 1,
    token: str,
    latency_ms: int = 0,
    clock: Clock | None = None,
    staff: bool = True,
) -> Starlette:
    """A simulated Waldur with ``orders`` seeded orders, answering only ``Token <token>``,
    whose user is staff unless ``staff`` is False."""
    clock = clock or _utc_now
    store = build_waldur_store(orders=orders, seed=seed, now=clock())
    writes = WaldurWrites(store, clock=clock, staff=staff, seed=seed)
    api = WaldurApi(store, token=token, writes=writes)
    faults = FaultController(seed=seed)
    routes = [
        Route("/api/marketplace-orders/", api.order_collection, methods=ALL_METHODS),
        Route("/api/marketplace-orders/{order_id}/", api.order_item, methods=ALL_METHODS),
        Route("/api/marketplace-orders/{order_id}/{action}/", api.order_action, methods=ALL_METHODS),
        Route(ATTACHMENT_ROUTE, writes.attachment_file, methods=["GET", "HEAD"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(FaultMiddleware, latency_ms=latency_ms, controller=faults)],
        exception_handlers={HTTPException: _render_http_exception},
    )
    app.router.redirect_slashes = False  # §1: no trailing slash is a 404 here
    app.state.store = store
    app.state.faults = faults
    return app


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def _render_http_exception(request: Request, exc: Exception) -> Response:
    # Routing refusals only: unknown paths and methods no route knows (TRACE…).
    assert isinstance(exc, HTTPException)
    details = {404: "Not found.", 405: f'Method "{request.method}" not allowed.'}
    detail = details.get(exc.status_code, exc.detail)
    return drf_response({"detail": detail}, exc.status_code, exc.headers)


class WaldurApi:
    """The endpoints, over one store: reads here, writes in `WaldurWrites`."""

    def __init__(self, store: WaldurStore, *, token: str, writes: WaldurWrites) -> None:
        self.store = store
        self._token = token.encode()
        self._selection = OrderSelection(store)
        self._writes = writes

    async def order_collection(self, request: Request) -> Response:
        handlers: dict[str, Handler] = {
            "GET": self._list_orders,
            "HEAD": self._count_orders,
            "POST": self._writes.create,
        }
        return await self._dispatch(request, handlers)

    async def order_item(self, request: Request) -> Response:
        return await self._dispatch(request, {"GET": self._retrieve_order, "DELETE": self._writes.destroy})

    async def order_action(self, request: Request) -> Response:
        name = request.path_params["action"]
        if name in ORDER_VIEWS:
            return await self._dispatch(request, {"GET": self._writes.offering})
        if name in ORDER_ACTIONS:
            return await self._dispatch(request, {"POST": self._writes.action})
        return drf_response({"detail": "Not found."}, 404)  # no such route: before authentication

    async def _dispatch(self, request: Request, handlers: dict[str, Handler]) -> Response:
        response = await self._answer(request, handlers)
        return _without_body(response) if request.method == "HEAD" else response

    async def _answer(self, request: Request, handlers: dict[str, Handler]) -> Response:
        # DRF authenticates before it looks at the method; HEAD falls back to GET.
        refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        if "GET" in handlers:
            handlers = {"HEAD": handlers["GET"], **handlers}
        handler = handlers.get(request.method)
        if handler is None:
            detail = {"detail": f'Method "{request.method}" not allowed.'}
            return drf_response(detail, 405, {"Allow": ", ".join(sorted(handlers))})
        try:
            return await handler(request)
        except _RefusalError as exc:
            return exc.response

    def _authenticate(self, request: Request) -> Response | None:
        """None when the ``Token`` key is right; otherwise Waldur's 401 (§1)."""
        words = request.headers.get("authorization", "").split()
        if not words or words[0].lower() != "token":
            return _unauthorised(NOT_PROVIDED)
        if len(words) == 1:
            return _unauthorised("Invalid token. No credentials provided.")
        if len(words) > 2:
            return _unauthorised("Invalid token. Token string should not contain spaces.")
        if not hmac.compare_digest(words[1].encode(), self._token):
            return _unauthorised("Invalid token.")
        return None

    async def _list_orders(self, request: Request) -> Response:
        page, headers = self._page(request)
        base_url = _base_url(request)
        fields = request.query_params.getlist("field")
        staff = self._writes.staff
        body = [trim_fields(render_order(order, base_url, staff=staff), fields) for order in page]
        return drf_response(body, 200, headers)

    async def _count_orders(self, request: Request) -> Response:
        _, headers = self._page(request)
        return Response(headers=headers)

    async def _retrieve_order(self, request: Request) -> Response:
        order_id = request.path_params["order_id"]
        order = self.store.get(order_id)
        if order is None:
            return drf_response({"detail": not_found_detail(order_id)}, 404)
        fields = request.query_params.getlist("field")
        body = render_order(order, _base_url(request), staff=self._writes.staff)
        return drf_response(trim_fields(body, fields))

    def _page(self, request: Request) -> tuple[Sequence[WaldurOrder], dict[str, str]]:
        """The requested page and its ``X-Result-Count`` and ``Link`` headers (§5)."""
        params = request.query_params
        try:
            query = parse_order_list_query(params.multi_items())
        except InvalidFilterError as exc:
            raise _RefusalError(drf_response(exc.errors, 400)) from exc
        orders = self._selection.select(query)
        size = _page_size(params.get("page_size"))
        last_page = max(1, -(-len(orders) // size))
        number = _page_number(params.get("page"), last_page)
        if number is None:
            raise _RefusalError(drf_response({"detail": "Invalid page."}, 404))
        headers = {
            "X-Result-Count": str(len(orders)),
            "Link": _link_header(str(request.url), number, last_page),
        }
        return orders[(number - 1) * size : number * size], headers


class _RefusalError(Exception):
    """An error answer decided deep inside a handler."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _without_body(response: Response) -> Response:
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    return Response(status_code=response.status_code, headers=headers)


def _unauthorised(detail: str) -> Response:
    return drf_response({"detail": detail}, 401, {"WWW-Authenticate": "Token"})


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _page_size(text: str | None) -> int:
    """DRF ``_positive_int(strict=True, cutoff=max)``; anything unusable means the default."""
    try:
        size = int(text) if text is not None else DEFAULT_PAGE_SIZE
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE) if size > 0 else DEFAULT_PAGE_SIZE


def _page_number(text: str | None, last_page: int) -> int | None:
    """Django's ``Paginator.validate_number``, with DRF's ``page=last``."""
    if not text:
        return 1
    if text == "last":
        return last_page
    try:
        number = int(text)
    except ValueError:
        return None
    return number if 1 <= number <= last_page else None


def _with_page(url: str, page: int | None) -> str:
    """DRF's ``replace_query_param``/``remove_query_param``: keys sorted, re-encoded."""
    scheme, netloc, path, query, fragment = urlsplit(url)
    params = parse_qs(query, keep_blank_values=True)
    params.pop("page", None)
    if page is not None:
        params["page"] = [str(page)]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(params.items()), doseq=True), fragment))


def _link_header(url: str, number: int, last_page: int) -> str:
    """Waldur's ``LinkHeaderPagination`` (§5): first and last always, prev/next if they exist."""
    links = [("first", _with_page(url, None))]
    if number > 1:
        links.append(("prev", _with_page(url, number - 1 if number > 2 else None)))
    if number < last_page:
        links.append(("next", _with_page(url, number + 1)))
    links.append(("last", _with_page(url, last_page if last_page > 1 else None)))
    return ", ".join(f'<{link}>; rel="{rel}"' for rel, link in links)
