"""What every simulated IVCAP endpoint shares: bearer auth, typed errors, paths, parameters, links.

Wire facts cited as §N are from ``shared/upstreams/ivcap.md``. Error bodies follow §7:
always ``message``; ``id`` on 404 (``ResourceNotFoundT``); ``name`` and ``value`` on 422
(``InvalidParameterT``); 401 has no body.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import unquote, urlencode

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway.sim.ivcap_filters import decode_token, encode_token

Clock = Callable[[], datetime]
Endpoint = Callable[[Request], Awaitable[Response]]
T = TypeVar("T")

DEFAULT_LIMIT = 10  # §5
MAX_LIMIT = 50
# strconv.ParseBool, as the Go server parses booleans.
_BOOLEANS = {"1": True, "t": True, "T": True, "true": True, "TRUE": True, "True": True,
             "0": False, "f": False, "F": False, "false": False, "FALSE": False, "False": False}  # fmt: skip
# Shaped like a Goa error (§7): parses as every typed error model of the real client.
FAILURE_BODY = (
    b'{"name":"fault","id":"urn:ivcap:fault:simulated","message":"Simulated failure.",'
    b'"temporary":true,"timeout":false,"fault":true}'
)


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers, media_type="application/json")


class RefusalError(Exception):
    """An error answer decided deep inside a handler."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def bad_request(message: str) -> RefusalError:
    return RefusalError(json_response({"message": message}, 400))  # BadRequestT


def invalid_parameter(name: str, message: str, value: str | None = None) -> RefusalError:
    body = {"name": name, "message": message}  # InvalidParameterT
    if value is not None:
        body["value"] = value
    return RefusalError(json_response(body, 422))


def not_found(resource_id: str, message: str) -> RefusalError:
    return RefusalError(json_response({"id": resource_id, "message": message}, 404))  # ResourceNotFoundT


def not_implemented(message: str) -> RefusalError:
    return RefusalError(json_response({"message": message}, 501))  # NotImplementedT


def json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object; anything else is a 400."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise bad_request("the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise bad_request("the request body must be a JSON object")
    return value


def is_record(record: Any, /, **fields: type) -> bool:
    """Whether ``record`` is a JSON object whose ``fields`` hold values of the given types."""
    return isinstance(record, dict) and all(isinstance(record.get(k), kind) for k, kind in fields.items())


def guarded(token: str, handler: Endpoint) -> Endpoint:
    """``handler`` behind ``Authorization: Bearer <token>`` (§1: a refusal is 401, no body)."""
    expected = token.encode()

    async def endpoint(request: Request) -> Response:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(credential.strip().encode(), expected):
            return Response(status_code=401)
        try:
            return await handler(request)
        except RefusalError as exc:
            return exc.response

    return endpoint


async def render_http_exception(request: Request, exc: Exception) -> Response:
    """Routing refusals (no such path, no such method) as typed bodies."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return json_response({"id": request.url.path, "message": "Not found."}, 404, exc.headers)
    return json_response({"message": exc.detail}, exc.status_code, exc.headers)


def path_segments(request: Request, prefix: str) -> list[str]:
    """The percent-decoded segments after ``prefix``, split on the raw path (§2).

    Splitting the raw path keeps an encoded ``%2F`` inside its segment: an id holding a
    slash stays one (unknown) id instead of reaching another route.
    """
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
    return [unquote(segment) for segment in path.removeprefix(prefix).split("/")]


def base_url(request: Request) -> str:
    """``scheme://host[:port]`` as the caller addressed us, for absolute links."""
    return str(request.base_url).rstrip("/")


def link(rel: str, href: str) -> dict[str, str]:
    return {"rel": rel, "href": href, "type": "application/json"}  # LinkT needs all three (§3)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with ``Z`` (§2); microseconds only when non-zero."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def parse_limit(text: str | None, name: str = "limit") -> int:
    """``limit``: 1..50, default 10 (§5); anything else is a 422 naming it."""
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise invalid_parameter(name, f"'{name}' must be an integer from 1 to {MAX_LIMIT}", text)
    return int(text)


def parse_bool(text: str | None, name: str, *, default: bool) -> bool:
    if text is None:
        return default
    if text not in _BOOLEANS:
        raise invalid_parameter(name, f"'{name}' must be true or false", text)
    return _BOOLEANS[text]


def parse_time(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise invalid_parameter(name, f"'{name}' must be an RFC 3339 time", text) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass(frozen=True, slots=True)
class Paging:
    """Where one page of a sub-list (products, metadata) starts and how it is sorted."""

    limit: int
    order_by: str
    descending: bool
    offset: int

    def window(self, rows: Sequence[T]) -> Sequence[T]:
        return rows[self.offset : self.offset + self.limit]

    def first_query(self) -> list[tuple[str, str]]:
        return [
            ("limit", str(self.limit)),
            ("order-by", self.order_by),
            ("order-desc", bool_text(self.descending)),
        ]

    def next_token(self, total: int) -> str | None:
        """The token of the following page, or None when this page is the last."""
        if self.offset + self.limit >= total:
            return None
        return encode_token({"o": self.order_by, "d": self.descending, "n": self.offset + self.limit})


def read_paging(params: Mapping[str, str], *, fields: Collection[str], default: str) -> Paging:
    """``limit``, ``page``, ``order-by``, ``order-desc`` (default true) of a sub-list (§4);
    ``page`` wins over all but ``limit``."""
    limit = parse_limit(params.get("limit"))
    token = params.get("page")
    if token is None:
        order_by = params.get("order-by") or default
        if order_by not in fields:
            raise invalid_parameter("order-by", f"'order-by' must be one of: {', '.join(fields)}", order_by)
        return Paging(limit, order_by, parse_bool(params.get("order-desc"), "order-desc", default=True), 0)
    state = decode_token(token)
    if (
        state is None
        or state.get("o") not in fields
        or not isinstance(state.get("d"), bool)
        or not is_offset(state.get("n"))
    ):
        raise invalid_parameter("page", "'page' is not a token this server issued", token)
    return Paging(limit, state["o"], state["d"], state["n"])


def is_offset(value: Any) -> bool:
    """A page token's offset: a non-negative integer (a bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def page_links(
    request: Request, collection: str, first: list[tuple[str, str]], next_token: str | None
) -> list[dict[str, str]]:
    """``self``, ``first`` and — only when more follow — ``next`` as ``<collection>?page=<token>``.

    ``ivcap_client.utils.set_page`` takes everything after ``page=`` as the token, so the
    next link's query holds nothing else (§5).
    """
    links = [link("self", str(request.url)), link("first", f"{collection}?{urlencode(first)}")]
    if next_token is not None:
        links.append(link("next", f"{collection}?page={next_token}"))
    return links


def bool_text(flag: bool) -> str:
    return "true" if flag else "false"
