"""IVCAP's current order API (``ivcap-client`` 0.47 / ``ivcap-core-api``) as pure functions.

List parameters, body parsing and errors; §N cites ``shared/upstreams/ivcap.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.adapters.base import ListChunk, ListRequest
from gateway.adapters.ivcap.states import IVCAP_STATES, IVCAP_TERMINAL_STATES
from gateway.adapters.ivcap.wire_common import (
    Dialect,
    FilterFields,
    IvcapContext,
    IvcapRow,
    bad_response,
    classify_error,
    filter_clauses,
    normalise_order_urn,
    to_order,
)
from gateway.errors import OrderNotFoundError
from gateway.models import Item, Order
from gateway.query import SortKey

__all__ = ["DIALECT", "classify_error", "list_params", "next_page", "parse_list", "parse_order"]

FIELDS = FilterFields(ordered_at="ordered-at", account="account", service="service")


class _Wire(BaseModel):
    # strict: a time must be an RFC 3339 string, an id a string — no coercion of garbage.
    # hide_input_in_errors: errors chained into the log name fields, never upstream values.
    model_config = ConfigDict(
        extra="allow", frozen=True, strict=True, populate_by_name=True, hide_input_in_errors=True
    )


class IvcapLink(_Wire):
    rel: str
    href: str
    type: str | None = None


class IvcapListItem(_Wire):
    """``OrderListItem`` (§3). ``ordered-at`` is optional there, but required here: an order
    without it cannot be placed in time, so the answer is unusable (docs/decisions.md)."""

    id: str
    name: str | None = None
    status: str
    service: str
    account: str
    href: str | None = None
    ordered_at: datetime = Field(alias="ordered-at")
    started_at: datetime | None = Field(default=None, alias="started-at")
    finished_at: datetime | None = Field(default=None, alias="finished-at")

    @field_validator("id")
    @classmethod
    def _order_urn(cls, value: str) -> str:
        urn = normalise_order_urn(value)
        if urn is None:
            raise ValueError("not an order URN")
        return urn


class IvcapListPage(_Wire):
    """``OrderListRT`` (§3)."""

    items: list[IvcapListItem]
    links: list[IvcapLink]
    at_time: datetime = Field(alias="at-time")


class IvcapProduct(_Wire):
    """``ProductListItemT`` (§3)."""

    id: str
    name: str | None = None
    status: str


class IvcapProductPage(_Wire):
    items: list[IvcapProduct]
    links: list[IvcapLink]


class IvcapOrderStatus(IvcapListItem):
    """``OrderStatusRT`` (§3): a read or create answer."""

    parameters: list[dict[str, Any]]
    tags: list[str] | None = None
    links: list[IvcapLink]
    products: IvcapProductPage


def list_params(request: ListRequest) -> list[tuple[str, str]] | None:
    """Query parameters for ``GET orders`` (§5); None when no IVCAP order can match.

    With a position, only the token and ``limit`` are sent: the server ignores everything
    else then, and the token carries the original filter and order.
    """
    params: list[tuple[str, str]] = [("limit", str(request.page_size))]
    if request.position is not None:
        return [*params, ("page", request.position)]
    clauses = filter_clauses(request, FIELDS)
    if clauses is None:
        return None
    if clauses:
        params.append(("filter", " and ".join(clauses)))
    # created_at is ordered-at; every other sort is not native, so the default order is asked for.
    descending = request.sort is not SortKey.CREATED_ASC
    params += [("order-by", "ordered-at"), ("order-desc", "true" if descending else "false")]
    return params


def next_page(instance: str, status: int, links: list[IvcapLink]) -> str | None:
    """The ``page`` token of the ``next`` link (§5); None on the last page."""
    for entry in links:
        if entry.rel == "next":
            pages = parse_qs(urlsplit(entry.href).query).get("page")
            if not pages:
                raise bad_response(instance, status, "next-page link")
            return pages[0]
    return None


def parse_list(ctx: IvcapContext, status: int, headers: Mapping[str, str], content: bytes) -> ListChunk:
    """A list answer as a ListChunk, or the GatewayError it stands for."""
    if status != 200:
        raise classify_error(ctx.instance, status, content)
    try:
        page = IvcapListPage.model_validate_json(content)
    except ValidationError as exc:
        raise bad_response(ctx.instance, status, "order list") from exc
    return ListChunk(
        orders=tuple(to_order(ctx, _row(item), IVCAP_STATES, IVCAP_TERMINAL_STATES) for item in page.items),
        next_position=next_page(ctx.instance, status, page.links),
    )


def parse_order(ctx: IvcapContext, status: int, content: bytes) -> Order:
    """A read answer as an Order, or the GatewayError it stands for."""
    if status == 404:
        raise OrderNotFoundError("No such order.")
    if status != 200:
        raise classify_error(ctx.instance, status, content)
    try:
        body = IvcapOrderStatus.model_validate_json(content)
    except ValidationError as exc:
        raise bad_response(ctx.instance, status, "order") from exc
    items = tuple(
        Item(id=p.id, name=p.name, quantity=None, status=None, unit_price=None) for p in body.products.items
    )
    extra = {"parameters": body.parameters} | ({"tags": body.tags} if body.tags is not None else {})
    return to_order(ctx, _row(body, items, extra), IVCAP_STATES, IVCAP_TERMINAL_STATES)


def _row(item: IvcapListItem, items: tuple[Item, ...] = (), extra: dict[str, Any] | None = None) -> IvcapRow:
    return IvcapRow(
        urn=item.id,
        name=item.name,
        status=item.status,
        account=item.account,
        service=item.service,
        ordered_at=item.ordered_at,
        started_at=item.started_at,
        finished_at=item.finished_at,
        items=items,
        extra=(extra or {}) | (item.model_extra or {}),  # keys this model does not know
    )


DIALECT = Dialect(IVCAP_STATES, list_params, parse_list, parse_order)
