"""IVCAP's older REST shape of the order API (ivcap.md §9) as pure functions.

The same paths as the current API; ``$filter``/``$orderby``/``limit``/``pageToken`` list
parameters, ``{"links": {...}, "orders": [...]}`` pages, snake_case keys and four statuses.
List rows name the account and service as ``account_id``/``service_id``; a read as objects
``{"id", "links"}`` — both forms are read in either place.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from gateway.adapters.base import ListChunk, ListRequest
from gateway.adapters.ivcap.states import IVCAP_LEGACY_STATES, IVCAP_LEGACY_TERMINAL_STATES
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

FIELDS = FilterFields(ordered_at="ordered_at", account="account_id", service="service_id")


class _Wire(BaseModel):
    # hide_input_in_errors: errors chained into the log name fields, never upstream values.
    model_config = ConfigDict(extra="allow", frozen=True, strict=True, hide_input_in_errors=True)


class LegacyRef(_Wire):
    id: str


class LegacyProduct(_Wire):
    id: str
    name: str | None = None


class LegacyOrder(_Wire):
    """One order of a legacy list or read; ``ordered_at`` is required, as in the current API."""

    id: str
    name: str | None = None
    status: str
    ordered_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    account_id: str | None = None
    service_id: str | None = None
    account: LegacyRef | None = None
    service: LegacyRef | None = None
    products: list[LegacyProduct] | None = None

    @field_validator("id")
    @classmethod
    def _order_urn(cls, value: str) -> str:
        urn = normalise_order_urn(value)
        if urn is None:
            raise ValueError("not an order URN")
        return urn


class LegacyLinks(_Wire):
    next: str | None = None


class LegacyPage(_Wire):
    links: LegacyLinks
    orders: list[LegacyOrder]


def list_params(request: ListRequest) -> list[tuple[str, str]] | None:
    """Query parameters for ``GET orders`` in the legacy shape; None when nothing can match."""
    params: list[tuple[str, str]] = [("limit", str(request.page_size))]
    if request.position is not None:
        return [("pageToken", request.position), *params]
    clauses = filter_clauses(request, FIELDS)
    if clauses is None:
        return None
    if clauses:
        params.append(("$filter", " and ".join(clauses)))
    direction = "asc" if request.sort is SortKey.CREATED_ASC else "desc"
    params.append(("$orderby", f"ordered_at {direction}"))
    return params


def next_page(instance: str, status: int, links: LegacyLinks) -> str | None:
    """The ``pageToken`` of the ``next`` link; None (or no link) on the last page."""
    if not links.next:
        return None
    tokens = parse_qs(urlsplit(links.next).query).get("pageToken")
    if not tokens:
        raise bad_response(instance, status, "next-page link")
    return tokens[0]


def parse_list(ctx: IvcapContext, status: int, headers: Mapping[str, str], content: bytes) -> ListChunk:
    """A list answer as a ListChunk, or the GatewayError it stands for."""
    if status != 200:
        raise classify_error(ctx.instance, status, content)
    try:
        page = LegacyPage.model_validate_json(content)
    except ValidationError as exc:
        raise bad_response(ctx.instance, status, "order list") from exc
    return ListChunk(
        orders=tuple(_order(ctx, row) for row in page.orders),
        next_position=next_page(ctx.instance, status, page.links),
    )


def parse_order(ctx: IvcapContext, status: int, content: bytes) -> Order:
    """A read answer as an Order, or the GatewayError it stands for."""
    if status == 404:
        raise OrderNotFoundError("No such order.")
    if status != 200:
        raise classify_error(ctx.instance, status, content)
    try:
        row = LegacyOrder.model_validate_json(content)
    except ValidationError as exc:
        raise bad_response(ctx.instance, status, "order") from exc
    return _order(ctx, row)


def _order(ctx: IvcapContext, row: LegacyOrder) -> Order:
    items = tuple(
        Item(id=p.id, name=p.name, quantity=None, status=None, unit_price=None) for p in row.products or ()
    )
    extra: dict[str, Any] = dict(row.model_extra or {})
    return to_order(
        ctx,
        IvcapRow(
            urn=row.id,
            name=row.name,
            status=row.status,
            account=row.account_id or (row.account.id if row.account else None),
            service=row.service_id or (row.service.id if row.service else None),
            ordered_at=row.ordered_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            items=items,
            extra=extra,
        ),
        IVCAP_LEGACY_STATES,
        IVCAP_LEGACY_TERMINAL_STATES,
    )


DIALECT = Dialect(IVCAP_LEGACY_STATES, list_params, parse_list, parse_order)
