"""The simulated IVCAP's metadata ("aspects") endpoints and an order's ``metadata`` sub-list (§4).

- ``GET /1/aspects`` — ``entity`` (exact), ``schema`` (a ``LIKE`` pattern, ``%`` the
  wildcard: ``urn:ivcap:schema:order%``; without ``%`` an exact match), ``at-time``,
  ``limit``, ``order-by`` (comma list of ``valid_from`` — the default —, ``schema``,
  ``entity``), ``order-direction`` (``ASC``/``DESC`` in any case, default ``DESC``, for
  every term), ``include-content``, ``page``; a non-empty ``filter`` or a ``content-path``
  answers 501 (not simulated);
- ``POST /1/aspects?entity=&schema=[&policy=]`` with a JSON object body → 200 ``{"id"}``;
- ``GET /1/aspects/{id}`` → ``AspectRT``.

An aspect is listed while valid: from its ``valid-from`` on (seeded "order finished"
aspects of orders still running only appear once they finish).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.sim.ivcap_data import Aspect, IvcapStore, is_urn
from gateway.sim.ivcap_filters import decode_token, encode_token, like_pattern
from gateway.sim.ivcap_http import (
    Clock,
    bad_request,
    base_url,
    format_time,
    invalid_parameter,
    is_offset,
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
)

ASPECT_SORTS = {
    "valid_from": lambda a: a.valid_from,
    "schema": lambda a: a.schema,
    "entity": lambda a: a.entity,
}
METADATA_SORTS = {"valid-from": lambda a: a.valid_from, "schema": lambda a: a.schema}


def sort_aspects(rows: Sequence[Aspect], terms: Sequence[str], descending: bool) -> list[Aspect]:
    keys = ASPECT_SORTS | METADATA_SORTS
    ordered = sorted(rows, key=lambda a: a.id, reverse=descending)
    for term in reversed(terms):
        ordered.sort(key=keys[term], reverse=descending)
    return ordered


def order_metadata(
    request: Request, store: IvcapStore, order_id: str, now: datetime, *, collection: str
) -> Response:
    """``GET /1/orders/{id}/metadata``: the order's valid aspects as ``PartialMetaListT``."""
    paging = read_paging(request.query_params, fields=METADATA_SORTS, default="valid-from")
    rows = sort_aspects(
        [a for a in store.aspects(order_id) if a.valid_at(now)], [paging.order_by], paging.descending
    )
    base = base_url(request)
    items = [
        {"id": a.id, "schema": a.schema, "content-type": a.content_type, "href": f"{base}/1/aspects/{a.id}"}
        for a in paging.window(rows)
    ]
    links = page_links(request, f"{collection}/metadata", paging.first_query(), paging.next_token(len(rows)))
    return json_response({"items": items, "links": links})


class AspectApi:
    """The ``/1/aspects`` endpoints over one store."""

    def __init__(self, store: IvcapStore, *, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def list_aspects(self, request: Request) -> Response:
        params = request.query_params
        limit = parse_limit(params.get("limit"))
        token = params.get("page")
        state = self._state_from_token(token) if token is not None else self._state_from_params(params)
        at = parse_time(state["t"], "at-time") if state["t"] else self.clock()
        rows = [a for a in self.store.aspects(state["e"]) if a.valid_at(at)]
        if state["s"]:
            pattern = like_pattern(state["s"])
            rows = [a for a in rows if pattern.fullmatch(a.schema)]
        rows = sort_aspects(rows, state["o"], state["d"])
        offset, base = state["n"], base_url(request)
        items = [self._item(a, with_content=state["c"]) for a in rows[offset : offset + limit]]
        first = [
            ("limit", str(limit)),
            ("order-by", ",".join(state["o"])),
            ("order-direction", "DESC" if state["d"] else "ASC"),
        ]
        first += [
            (name, state[key])
            for name, key in (("entity", "e"), ("schema", "s"), ("at-time", "t"))
            if state[key]
        ]
        next_token = encode_token(state | {"n": offset + limit}) if offset + limit < len(rows) else None
        body: dict[str, Any] = {
            "items": items,
            "links": page_links(request, f"{base}/1/aspects", first, next_token),
            "at-time": format_time(at),
        }
        body |= {key: state[short] for key, short in (("entity", "e"), ("schema", "s")) if state[short]}
        return json_response(body)

    @staticmethod
    def _state_from_params(params: Any) -> dict[str, Any]:
        if params.get("filter"):
            raise not_implemented("'filter' on aspects is not implemented by the simulator")
        if params.get("content-path"):
            raise not_implemented("'content-path' is not implemented by the simulator")
        terms = [t.strip() for t in (params.get("order-by") or "valid_from").split(",")]
        if not all(term in ASPECT_SORTS for term in terms):
            known = ", ".join(ASPECT_SORTS)
            raise invalid_parameter(
                "order-by", f"'order-by' terms must be among: {known}", params["order-by"]
            )
        direction = (params.get("order-direction") or "DESC").upper()
        if direction not in ("ASC", "DESC"):
            raise invalid_parameter("order-direction", "'order-direction' must be ASC or DESC", direction)
        at_time = params.get("at-time") or None
        if at_time is not None:
            parse_time(at_time, "at-time")
        return {
            "e": params.get("entity") or None,
            "s": params.get("schema") or None,
            "t": at_time,
            "o": terms,
            "d": direction == "DESC",
            "c": parse_bool(params.get("include-content"), "include-content", default=False),
            "n": 0,
        }

    @staticmethod
    def _state_from_token(token: str) -> dict[str, Any]:
        state = decode_token(token)
        if (
            state is None
            or not all(state.get(key) is None or isinstance(state[key], str) for key in "est")
            or not (
                isinstance(state.get("o"), list) and state["o"] and all(t in ASPECT_SORTS for t in state["o"])
            )
            or not (isinstance(state.get("d"), bool) and isinstance(state.get("c"), bool))
            or not is_offset(state.get("n"))
        ):
            raise invalid_parameter("page", "'page' is not a token this server issued", token)
        return state

    @staticmethod
    def _item(aspect: Aspect, *, with_content: bool) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": aspect.id,
            "entity": aspect.entity,
            "schema": aspect.schema,
            "content-type": aspect.content_type,
            "valid-from": format_time(aspect.valid_from),
        }
        if aspect.valid_to is not None:
            item["valid-to"] = format_time(aspect.valid_to)
        if with_content:
            item["content"] = aspect.content
        return item

    async def create_aspect(self, request: Request) -> Response:
        params = request.query_params
        for name in ("entity", "schema"):
            if not params.get(name):
                raise invalid_parameter(name, f"'{name}' is required")
        policy = params.get("policy")
        if policy is not None and not is_urn(policy, "policy"):
            raise invalid_parameter("policy", "'policy' must be a urn:ivcap:policy:<uuid>", policy)
        if "json" not in request.headers.get("content-type", ""):
            raise bad_request("the aspect must be sent as application/json")
        content = json_object(await request.body())
        aspect = self.store.add_aspect(
            params["entity"], params["schema"], content, valid_from=self.clock(), policy=policy
        )
        return json_response({"id": aspect.id})

    async def read_aspect(self, request: Request) -> Response:
        segments = path_segments(request, "/1/aspects/")
        aspect = self.store.aspect(segments[0]) if len(segments) == 1 else None
        if aspect is None:
            raise not_found(segments[0], "aspect not found")
        body = self._item(aspect, with_content=True) | {
            "asserter": aspect.account,
            "account": aspect.account,
            "policy": aspect.policy,
            "links": [link("self", f"{base_url(request)}/1/aspects/{aspect.id}")],
        }
        return json_response(body)
