"""The legacy dialect of the simulated IVCAP: the older REST shape of ivcap.md §9, same paths.

- ``GET /1/orders`` — ``$filter`` (the grammar of `ivcap_filters` with snake_case fields
  ``name``, ``status``, ``service_id``, ``account_id``, ``ordered_at``), ``$orderby``
  (comma list of ``<field> [asc|desc]`` over ``ordered_at``, ``name``, ``status``; asc
  when unsaid; default ``ordered_at desc``), ``limit`` or ``$top`` (1..50, default 10),
  ``offset`` or ``$skip``, ``pageToken``, ``$select`` (accepted, ignored). Body
  ``{"links": {"first", "next", "self"}, "orders": [...]}``; ``next`` is null on the last
  page, else ``<base>/1/orders?pageToken=<token>&limit=<n>``. With ``pageToken`` only
  ``limit``/``$top`` is read from the request.
- ``GET /1/orders/{id}`` — one order: ``account`` and ``service`` as objects with ``id``
  and ``links``, ``products`` a bare array, ``metadata`` the order's aspects.
- ``POST /1/orders`` — ``{"serviceID", "accountID"?, "name"?, "parameters": [...],
  "metadata"?: [{"schema", "aspect"}]}`` → 200 with the new order, as a read shows it.

List rows carry ``account_id``/``service_id``; a read carries the ``account``/``service``
objects (§9 names both). Statuses are the old four: ``pending`` (also for ``scheduled``),
``executing`` (also for ``unknown``: the backend lost track of a running order),
``finished`` (``succeeded``) and ``error`` (``failed`` and ``error``). Every error body is
``{"message": ...}`` (401: none); bad parameters and bodies are 400, unknown ids 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.sim.ivcap_data import IvcapOrder, IvcapStore
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
    MAX_LIMIT,
    Clock,
    RefusalError,
    bad_request,
    base_url,
    format_time,
    guarded,
    is_offset,
    is_record,
    json_object,
    json_response,
    path_segments,
)

LEGACY_STATUSES = {
    "pending": "pending",
    "scheduled": "pending",
    "executing": "executing",
    "unknown": "executing",
    "succeeded": "finished",
    "failed": "error",
    "error": "error",
}
FILTER_FIELDS = {
    "name": "name",
    "status": "status",
    "service_id": "service",
    "account_id": "account",
    "ordered_at": "ordered_at",
}
SORT_FIELDS = ("ordered_at", "name", "status")
DEFAULT_ORDERING = (("ordered_at", True),)


def legacy_routes(store: IvcapStore, *, token: str, clock: Clock) -> list[Route]:
    api = LegacyApi(store, clock=clock)
    return [
        Route("/1/orders", guarded(token, api.list_orders), methods=["GET"]),
        Route("/1/orders", guarded(token, api.create_order), methods=["POST"]),
        Route("/1/orders/{rest:path}", guarded(token, api.read_order), methods=["GET"]),
    ]


def legacy_status(order: IvcapOrder, at: datetime) -> str:
    return LEGACY_STATUSES[order.status_at(at)]


def _not_found(message: str) -> RefusalError:
    return RefusalError(json_response({"message": message}, 404))  # no `id`, unlike the current API


def _time(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)


def render_row(order: IvcapOrder, at: datetime, base: str) -> dict[str, Any]:
    return {
        "id": order.id,
        "name": order.name,
        "status": legacy_status(order, at),
        "ordered_at": format_time(order.ordered_at),
        "started_at": _time(order.started_at(at)),
        "finished_at": _time(order.finished_at(at)),
        "account_id": order.account.id,
        "service_id": order.service.id,
        "links": {"self": f"{base}/1/orders/{order.id}"},
    }


def render_order(order: IvcapOrder, store: IvcapStore, at: datetime, base: str) -> dict[str, Any]:
    body = render_row(order, at, base)
    account, service = body.pop("account_id"), body.pop("service_id")
    links = body.pop("links")
    products = sorted(order.products_at(at), key=lambda p: (p.name, p.id))
    return body | {
        "account": {"id": account, "links": {"self": f"{base}/1/accounts/{account}"}},
        "service": {"id": service, "links": {"self": f"{base}/1/services/{service}"}},
        "parameters": [{"name": name, "value": value} for name, value in order.parameters],
        "products": [
            {
                "id": p.id,
                "name": p.name,
                "status": "ready",
                "mime_type": p.mime_type,
                "size": p.size,
                "href": f"{base}/1/artifacts/{p.id}",
                "data_href": f"{base}/1/artifacts/{p.id}/blob",
            }
            for p in products
        ],
        "metadata": [{"id": a.id, "schema": a.schema} for a in store.aspects(order.id) if a.valid_at(at)],
        "links": links,
    }


def parse_orderby(text: str | None) -> tuple[tuple[str, bool], ...]:
    if not text or not text.strip():
        return DEFAULT_ORDERING
    terms = []
    for term in text.split(","):
        words = term.split()
        if not words or len(words) > 2 or words[0] not in SORT_FIELDS:
            fields = ", ".join(SORT_FIELDS)
            raise bad_request(f"$orderby terms are '<field> [asc|desc]' with a field among: {fields}")
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise bad_request("$orderby directions are 'asc' or 'desc'")
        terms.append((words[0], direction == "desc"))
    return tuple(terms)


def _integer(params: Any, names: tuple[str, str], default: int, low: int, high: int) -> int:
    text = params.get(names[0], params.get(names[1]))
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise bad_request(f"'{names[0]}' must be an integer from {low} to {high}")
    return int(text)


class LegacyApi:
    """The legacy order endpoints over one store."""

    def __init__(self, store: IvcapStore, *, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._selection = OrderSelection(store, legacy_status)

    async def list_orders(self, request: Request) -> Response:
        params = request.query_params
        limit = _integer(params, ("limit", "$top"), DEFAULT_LIMIT, 1, MAX_LIMIT)
        token = params.get("pageToken")
        if token is not None:
            state = self._state_from_token(token)
        else:
            state = {
                "f": params.get("$filter", ""),
                "o": [list(term) for term in parse_orderby(params.get("$orderby"))],
                "n": _integer(params, ("offset", "$skip"), 0, 0, 10**9),
            }
        try:
            clauses = parse_filter(state["f"], FILTER_FIELDS)
        except FilterSyntaxError as exc:
            raise bad_request(f"invalid $filter: {exc}") from exc
        at, base, offset = self.clock(), base_url(request), state["n"]
        rows = self._selection.select(OrderQuery(clauses, tuple((f, d) for f, d in state["o"])), at)
        orderby = ",".join(f"{field} {'desc' if desc else 'asc'}" for field, desc in state["o"])
        first = [("limit", str(limit)), ("$orderby", orderby)] + (
            [("$filter", state["f"])] if state["f"] else []
        )
        next_link = None
        if offset + limit < len(rows):
            next_link = (
                f"{base}/1/orders?pageToken={encode_token(state | {'n': offset + limit})}&limit={limit}"
            )
        links = {"first": f"{base}/1/orders?{urlencode(first)}", "next": next_link, "self": str(request.url)}
        return json_response(
            {"links": links, "orders": [render_row(o, at, base) for o in rows[offset : offset + limit]]}
        )

    @staticmethod
    def _state_from_token(token: str) -> dict[str, Any]:
        state = decode_token(token)
        if (
            state is None
            or not isinstance(state.get("f"), str)
            or not isinstance(state.get("o"), list)
            or not state["o"]
            or not all(_is_term(term) for term in state["o"])
            or not is_offset(state.get("n"))
        ):
            raise bad_request("'pageToken' is not a token this server issued")
        return state

    async def read_order(self, request: Request) -> Response:
        segments = path_segments(request, "/1/orders/")
        order = self.store.get(segments[0]) if len(segments) == 1 else None
        if order is None:
            raise _not_found("order not found")
        return json_response(render_order(order, self.store, self.clock(), base_url(request)))

    async def create_order(self, request: Request) -> Response:
        body = json_object(await request.body())
        service_id, account_id, name = body.get("serviceID"), body.get("accountID"), body.get("name")
        parameters, metadata = body.get("parameters"), body.get("metadata", [])
        if not isinstance(service_id, str) or not (account_id is None or isinstance(account_id, str)):
            raise bad_request("'serviceID' (and 'accountID' when given) must be URN strings")
        if not isinstance(parameters, list) or not all(is_record(p, name=str, value=str) for p in parameters):
            raise bad_request('\'parameters\' must be a list of {"name": ..., "value": ...} strings')
        if not isinstance(metadata, list) or not all(is_record(m, schema=str, aspect=dict) for m in metadata):
            raise bad_request('\'metadata\' must be a list of {"schema": ..., "aspect": {...}}')
        if name is not None and not isinstance(name, str):
            raise bad_request("'name' must be a string")
        service = self.store.service(service_id)
        account = self.store.account(account_id) if account_id is not None else self.store.caller
        if service is None or account is None:
            raise _not_found("service not found" if service is None else "account not found")
        now = self.clock()
        pairs = [(p["name"], p["value"]) for p in parameters]
        order = self.store.create_order(service, now=now, name=name, parameters=pairs, account=account)
        for item in metadata:
            self.store.add_aspect(order.id, item["schema"], item["aspect"], valid_from=now)
        return json_response(render_order(order, self.store, now, base_url(request)))


def _is_term(term: Any) -> bool:
    return isinstance(term, list) and len(term) == 2 and term[0] in SORT_FIELDS and isinstance(term[1], bool)
