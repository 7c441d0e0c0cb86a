"""ArrowSphere's wire format as pure functions: list parameters, envelopes, orders, errors (arrow.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from gateway.adapters.arrow.actions import order_actions
from gateway.adapters.arrow.states import arrow_item_status, arrow_status
from gateway.adapters.base import ListChunk, ListRequest
from gateway.errors import (
    GatewayError,
    OrderNotFoundError,
    UpstreamAuthError,
    UpstreamBadResponseError,
    UpstreamError,
)
from gateway.models import (
    TERMINAL_STATUSES,
    Item,
    Money,
    Order,
    OrderLinks,
    Ref,
    decimal_text,
    global_order_id,
)
from gateway.query import SortKey

MAX_PAGE_SIZE = 100  # §5: INFERRED maximum of per_page
_NATIVE_ID = re.compile(r"^XSPO[0-9]{1,18}$")  # §2
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# Upstream paths (§2: "/api/customers/XSP1", and "api/orders/..." in `actions`).
_UPSTREAM_PATHS = ("/api/", "api/")
SORT_FIELDS = {"created_at": "dateCreation", "updated_at": "dateStatus"}  # §5: sortBy is the field

# Order keys that become normalised fields and are not repeated in `extra`; `actions` holds
# upstream paths. Keys named `link` (anywhere) are upstream paths too (API.md §7).
_CONSUMED = frozenset(
    {"reference", "status", "dateStatus", "dateCreation", "commitmentAmountTotal", "customer", "ponumber"}
)
_HIDDEN_KEYS = frozenset({"actions", "link", "links"})


def _wire_time(value: Any) -> Any:
    """§2: ``YYYY-MM-DD HH:MM:SS`` (ISO spellings accepted); only text, never a number."""
    if not isinstance(value, str):
        raise ValueError("not a time string")
    return datetime.fromisoformat(value)


def _text(value: Any) -> Any:
    # PHP may encode a numeric PO number as a number.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


WireTime = Annotated[datetime, BeforeValidator(_wire_time)]
WireText = Annotated[str, BeforeValidator(_text)]


class _Upstream(BaseModel):
    # hide_input_in_errors: errors chained into the log name fields, never upstream values.
    model_config = ConfigDict(extra="allow", frozen=True, hide_input_in_errors=True)


class _Read(BaseModel):
    """An order's part read into fields; what `extra` shows comes from the raw order, so other
    keys are validated past but not kept (keeping them cost a third of the validation)."""

    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


class _Tier(_Read):
    """One tier of the seed's tiered price shape: ``{"currency", "unit", "exchangeRate"}``."""

    currency: str | None = None
    unit: Decimal | None = None


class _Prices(_Read):
    """Flat ``{"buy", "sell", "currency", ...}`` (clients, fixtures) or tiered (seed, §6)."""

    buy: Decimal | _Tier | None = None
    currency: str | None = None


class _Program(_Read):
    legacyCode: str | None = None


class ArrowProduct(_Read):
    """The part of an order's product (§6) the gateway relies on."""

    sku: str = Field(min_length=1)
    name: str | None = None
    quantity: int | None = None
    status: str | None = None
    prices: _Prices | None = None
    program: _Program | None = None
    programName: str | None = None
    vendorName: str | None = None


class _Customer(_Read):
    reference: str = Field(min_length=1)
    companyName: str | None = None
    name: str | None = None


class ArrowOrder(_Read):
    """The part of Arrow's Order (§6) the gateway relies on."""

    reference: str = Field(min_length=1)
    status: str
    dateCreation: WireTime
    dateStatus: WireTime | None = None
    commitmentAmountTotal: Decimal | None = None
    customer: _Customer | None = None
    ponumber: WireText | None = None
    products: list[ArrowProduct] = []


class _Pagination(_Upstream):
    current_page: int
    total_page: int


class _OrdersData(_Upstream):
    orders: list[dict[str, Any]]


_ORDER_ROWS = TypeAdapter(list[ArrowOrder], config=ConfigDict(hide_input_in_errors=True))


class _ListEnvelope(_Upstream):
    data: _OrdersData
    pagination: _Pagination


class _OrderEnvelope(_Upstream):
    data: _OrdersData


class _Created(_Upstream):
    reference: str = Field(pattern=_NATIVE_ID.pattern)


class _CreatedEnvelope(_Upstream):
    data: _Created


@dataclass(frozen=True, slots=True)
class ArrowContext:
    """Per-instance facts the mapping needs."""

    instance: str
    zone: tzinfo  # the zone Arrow's zone-less times are in (settings.timezone)
    upstream_origin: str  # scheme://host:port of base_url; values pointing there are hidden
    public_url: str | None  # the provider's address as callers see it, for links.upstream
    gateway_url: str  # base of links.self ("" for paths relative to the gateway)


def is_native_id(native_id: str) -> bool:
    """Whether ``native_id`` can be an Arrow order reference (``XSPO<digits>``, §2)."""
    return _NATIVE_ID.match(native_id) is not None


def list_params(request: ListRequest, *, zone: tzinfo) -> list[tuple[str, str]] | None:
    """Query parameters for ``GET orders``; dates are days in the instance's ``zone``.

    ``from`` and ``lastUpdate`` take a day (§5), so they only narrow the answer to whole
    days that contain every match: the gateway applies the exact bound again (the filters
    are in the capabilities' ``inexact_filters``).
    """
    f = request.filters
    params = [("per_page", str(min(request.page_size, MAX_PAGE_SIZE)))]
    if request.position is not None:
        params.append(("page", request.position))
    sort: SortKey = request.sort
    # The trap of §5: `sortBy` names the field, `orderBy` the direction.
    params.append(("sortBy", SORT_FIELDS[sort.field]))
    params.append(("orderBy", "desc" if sort.descending else "asc"))
    if f.created_after is not None:
        params.append(("from", _local_day(f.created_after, zone)))
    if f.updated_after is not None:
        params.append(("lastUpdate", _local_day(f.updated_after, zone)))
    return params


def _local_day(value: datetime, zone: tzinfo) -> str:
    return value.astimezone(zone).date().isoformat()


def parse_list(ctx: ArrowContext, status: int, content: bytes) -> ListChunk:
    """A list answer as a ListChunk, or the GatewayError it stands for."""
    body = _envelope(ctx.instance, status, content)
    try:
        envelope = _ListEnvelope.model_validate(body)
        rows = _ORDER_ROWS.validate_python(envelope.data.orders)
    except ValidationError as exc:
        raise _bad(ctx.instance, status, "The provider's order list could not be read.") from exc
    page = envelope.pagination
    return ListChunk(
        orders=tuple(map(partial(to_order, ctx), rows, envelope.data.orders)),
        next_position=str(page.current_page + 1) if page.current_page < page.total_page else None,
    )


def parse_order(ctx: ArrowContext, status: int, content: bytes, *, reference: str | None = None) -> Order:
    """A read answer (a one-element ``orders`` list, §4) as an Order, or its GatewayError."""
    if status == 404:
        raise OrderNotFoundError("No such order.")
    body = _envelope(ctx.instance, status, content, not_found=True)
    try:
        orders = _OrderEnvelope.model_validate(body).data.orders
        if not orders:
            raise OrderNotFoundError("No such order.")
        if len(orders) > 1:
            raise _bad(ctx.instance, status, "The provider answered with several orders.")
        row = ArrowOrder.model_validate(orders[0])
    except ValidationError as exc:
        raise _bad(ctx.instance, status, "The provider's order could not be read.") from exc
    if reference is not None and row.reference != reference:
        raise _bad(ctx.instance, status, "The provider answered with another order.")
    return to_order(ctx, row, orders[0])


def parse_created(ctx: ArrowContext, status: int, content: bytes) -> str:
    """The reference of the order a create made (the answer holds only ``reference`` and ``link``)."""
    body = _envelope(ctx.instance, status, content)
    try:
        return _CreatedEnvelope.model_validate(body).data.reference
    except ValidationError as exc:
        raise _bad(ctx.instance, status, "The provider's answer to the create could not be read.") from exc


def _envelope(instance: str, status: int, content: bytes, *, not_found: bool = False) -> Any:
    """The decoded body of a 2xx answer; an error status (HTTP or the envelope's own) raises."""
    if not 200 <= status < 300:
        raise classify_error(instance, status, content)
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise _bad(instance, status, "The provider's answer is not JSON.") from exc
    if not isinstance(body, dict):
        raise _bad(instance, status, "The provider's answer has no envelope.")
    inner = body.get("status")
    # §3: `status` repeats the HTTP status; an error there is an error whatever HTTP said.
    if isinstance(inner, int) and not isinstance(inner, bool) and inner >= 400:
        if inner == 404 and not_found:
            raise OrderNotFoundError("No such order.")
        raise classify_error(instance, inner, content)
    return body


def _bad(instance: str, status: int, detail: str) -> UpstreamBadResponseError:
    return UpstreamBadResponseError(detail, provider=instance, upstream_status=status)


def to_order(ctx: ArrowContext, row: ArrowOrder, raw: Mapping[str, Any]) -> Order:
    """Map one Arrow order to the normalised Order (the tables in docs/status-mapping.md)."""
    status = arrow_status(row.status)
    updated = utc_time(row.dateStatus, ctx.zone) if row.dateStatus else None
    items = tuple(_item(product) for product in row.products)
    order_id = global_order_id(ctx.instance, row.reference)
    return Order(
        id=order_id,
        provider=ctx.instance,
        provider_kind="arrow",
        native_id=row.reference,
        name=row.ponumber or None,  # API.md §3: the PO number where there is no name
        status=status,
        provider_status=row.status,
        created_at=utc_time(row.dateCreation, ctx.zone),
        updated_at=updated,
        completed_at=updated if status in TERMINAL_STATUSES else None,
        customer=_customer(row.customer),
        service=_service(row.products),
        items=items,
        total=_total(row.commitmentAmountTotal, items),
        actions=order_actions(raw.get("actions")),
        links=OrderLinks(
            self=f"{ctx.gateway_url}/orders/{quote(order_id, safe=':')}",
            upstream=f"{ctx.public_url}orders/{quote(row.reference)}" if ctx.public_url else None,
        ),
        extra=_extra(ctx, raw),
    )


def utc_time(value: datetime, zone: tzinfo) -> datetime:
    # §2: no zone on the wire; the instance's setting says which one (DST-ambiguous times
    # take the first occurrence).
    return (value.replace(tzinfo=zone) if value.tzinfo is None else value).astimezone(UTC)


def _customer(customer: _Customer | None) -> Ref | None:
    if customer is None:
        return None
    return Ref(id=customer.reference, name=customer.companyName or customer.name or None)


def _service(products: list[ArrowProduct]) -> Ref | None:
    """The program of the first product (an order is placed within one program)."""
    if not products:
        return None
    first = products[0]
    code = (first.program.legacyCode if first.program else None) or first.vendorName
    if not code:
        return None
    return Ref(id=code, name=first.programName or first.vendorName or None)


def _item(product: ArrowProduct) -> Item:
    return Item(
        id=product.sku,
        name=product.name,
        quantity=product.quantity,
        status=arrow_item_status(product.status) if product.status else None,
        unit_price=_unit_price(product.prices),
    )


def _unit_price(prices: _Prices | None) -> Money | None:
    """The buy price, flat (``buy`` + ``currency``) or tiered (``buy.unit`` + ``buy.currency``)."""
    if prices is None or prices.buy is None:
        return None
    if isinstance(prices.buy, _Tier):
        amount, currency = prices.buy.unit, prices.buy.currency
    else:
        amount, currency = prices.buy, prices.currency
    if amount is None or currency is None or not _CURRENCY.match(currency):
        return None
    return Money(amount=decimal_text(amount), currency=currency)


def _total(amount: Decimal | None, items: tuple[Item, ...]) -> Money | None:
    """``commitmentAmountTotal`` in the products' currency (§2: the order states none)."""
    if amount is None:
        return None
    currencies = {item.unit_price.currency for item in items if item.unit_price}
    if len(currencies) != 1:
        return None
    return Money(amount=decimal_text(amount), currency=currencies.pop())


def _extra(ctx: ArrowContext, raw: Mapping[str, Any]) -> dict[str, Any]:
    prefixes = _upstream_prefixes(ctx.upstream_origin)
    return {
        key: _scrub(value, prefixes) if isinstance(value, _CONTAINERS) else value
        for key, value in raw.items()
        if key not in _NOT_EXTRA and not (isinstance(value, str) and value.startswith(prefixes))
    }


_NOT_EXTRA = _CONSUMED | _HIDDEN_KEYS
_CONTAINERS = (dict, list)  # a tuple: isinstance checks it faster than `dict | list`


def _scrub(value: dict[str, Any] | list[Any], prefixes: tuple[str, ...]) -> Any:
    """``value`` without links and upstream paths or addresses, at any depth."""
    # The checks are inlined (no call per leaf): this walk is most of what mapping an order costs.
    if isinstance(value, dict):
        return {
            k: _scrub(v, prefixes) if isinstance(v, _CONTAINERS) else v
            for k, v in value.items()
            if k not in _HIDDEN_KEYS and not (isinstance(v, str) and v.startswith(prefixes))
        }
    return [
        _scrub(v, prefixes) if isinstance(v, _CONTAINERS) else v
        for v in value
        if not (isinstance(v, str) and v.startswith(prefixes))
    ]


def _upstream_prefixes(origin: str) -> tuple[str, ...]:
    """How strings pointing into the upstream start: its address, or an API path (§2,
    ``/api/customers/XSP1`` and ``api/orders/...``)."""
    return (origin, *_UPSTREAM_PATHS)


def classify_error(instance: str, status: int, content: bytes) -> GatewayError:
    """One table from Arrow's status codes (§7) to ours; upstream text is never used."""
    if status in (401, 403):
        return UpstreamAuthError(
            "The provider refused the gateway's credentials.", provider=instance, upstream_status=status
        )
    if 400 <= status < 500:
        return UpstreamError("The provider refused the request.", provider=instance, upstream_status=status)
    if status >= 500:
        return UpstreamBadResponseError(
            "The provider failed to answer.", provider=instance, upstream_status=status
        )
    return UpstreamBadResponseError(
        "The provider answered with an unexpected status.", provider=instance, upstream_status=status
    )
