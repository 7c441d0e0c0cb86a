"""Waldur's wire format as pure functions: list parameters, body parsing, errors (waldur.md)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, field_validator

from gateway.adapters.base import ListChunk, ListRequest
from gateway.adapters.waldur.states import (
    WALDUR_STATES,
    WALDUR_TERMINAL_STATES,
    waldur_states_for,
    waldur_status,
)
from gateway.adapters.waldur.transitions import actions_for
from gateway.errors import (
    GatewayError,
    OrderNotFoundError,
    UpstreamAuthError,
    UpstreamBadResponseError,
    UpstreamError,
)
from gateway.models import Item, Money, Order, OrderLinks, Ref, decimal_text, global_order_id
from gateway.query import SortKey

_HEX_UUID = re.compile(r"^[0-9a-f]{32}$")
_DASHED_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([a-z]+)"?')
ONE_MICROSECOND = timedelta(microseconds=1)

# Fields that become normalised Order fields and so are not repeated in `extra`; `url`,
# `offering` and `plan` are hyperlinks into the upstream and `error_traceback` a stack trace:
# none of these may reach a caller (API.md §7).
_CONSUMED = frozenset(
    {
        "uuid", "created", "modified", "state", "completed_at", "cost",
        "customer_uuid", "customer_name", "offering_uuid", "offering_name",
    }
)  # fmt: skip
_HIDDEN = frozenset({"url", "offering", "plan", "error_traceback"})


class WaldurOrder(BaseModel):
    """The part of Waldur's ``OrderDetails`` (waldur.md §3) the gateway relies on."""

    # hide_input_in_errors: a validation error (chained into the log) names the field, never
    # the upstream's value or body.
    model_config = ConfigDict(extra="allow", frozen=True, hide_input_in_errors=True)

    uuid: str
    created: datetime
    modified: datetime | None = None
    state: str
    completed_at: datetime | None = None
    customer_uuid: str | None = None
    customer_name: str | None = None
    offering_uuid: str | None = None
    offering_name: str | None = None
    offering_type: str | None = None
    plan_uuid: str | None = None
    plan_name: str | None = None
    attributes: dict[str, Any] | None = None
    limits: dict[str, int | float] | None = None
    cost: str | float | None = None
    resource_name: str | None = None
    attachment: str | None = None
    consumer_reviewed_by: str | None = None

    @field_validator("uuid")
    @classmethod
    def _hex_uuid(cls, value: str) -> str:
        normalised = normalise_native_id(value)
        if normalised is None:
            raise ValueError("not a uuid")
        return normalised


_ORDER_LIST = TypeAdapter(list[WaldurOrder], config=ConfigDict(hide_input_in_errors=True))


@dataclass(frozen=True, slots=True)
class WaldurContext:
    """Per-instance facts the mapping needs."""

    instance: str
    currency: str
    upstream_origin: str  # scheme://host:port of base_url; values pointing there are hidden
    public_url: str | None  # the provider's address as callers see it, for links.upstream
    gateway_url: str  # base of links.self ("" for paths relative to the gateway)


def normalise_native_id(native_id: str) -> str | None:
    """Waldur's 32-hex form of a uuid (dashed accepted), None when it cannot be an order id."""
    lowered = native_id.lower()
    if _HEX_UUID.match(lowered):
        return lowered
    if _DASHED_UUID.match(lowered):
        return lowered.replace("-", "")
    return None


def list_params(request: ListRequest) -> list[tuple[str, str]] | None:
    """Query parameters for ``GET marketplace-orders/``; None when no Waldur order can match."""
    f = request.filters
    params: list[tuple[str, str]] = [("page_size", str(request.page_size))]
    if request.position is not None:
        params.append(("page", request.position))
    params.append(("o", "-created" if request.sort is SortKey.CREATED_DESC else "created"))
    states = _wanted_states(f.statuses, f.provider_statuses)
    if states is not None:
        if not states:
            return None
        params.extend(("state", state) for state in sorted(states))
    for name, value in (("customer_uuid", f.customer), ("offering_uuid", f.service)):
        if value is not None:
            uuid = normalise_native_id(value)
            if uuid is None:
                return None
            params.append((name, uuid))
    if f.created_after is not None:
        params.append(("created", _wire_time(f.created_after)))
    if f.created_before is not None:
        # Our bound is exclusive; Waldur's `created_before` is inclusive (our reading, see
        # docs/upstream-decisions.md), so ask for one microsecond less.
        params.append(("created_before", _wire_time(f.created_before - ONE_MICROSECOND)))
    if f.updated_after is not None:
        params.append(("modified", _wire_time(f.updated_after)))
    return params


def _wanted_states(statuses: frozenset[Any], provider_statuses: frozenset[str]) -> frozenset[str] | None:
    wanted: frozenset[str] | None = None
    if statuses:
        wanted = waldur_states_for(statuses)
    if provider_statuses:
        # Waldur rejects a state it does not know with a 400; such a value matches nothing.
        known = provider_statuses & WALDUR_STATES.keys()
        wanted = known if wanted is None else wanted & known
    return wanted


def _wire_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def next_page(link_header: str | None) -> str | None:
    """The ``page`` value of the ``rel="next"`` link (waldur.md §5: only the page is taken)."""
    if not link_header:
        return None
    for url, rel in _LINK.findall(link_header):
        if rel == "next":
            pages = parse_qs(urlsplit(url).query).get("page")
            return pages[0] if pages else None
    return None


def parse_list(ctx: WaldurContext, status: int, headers: Mapping[str, str], content: bytes) -> ListChunk:
    """A list answer as a ListChunk, or the GatewayError it stands for."""
    if status == 404 and _detail(content) == "Invalid page.":
        # The page vanished between two fetches (orders deleted): nothing more to read.
        return ListChunk(orders=(), next_position=None)
    if status != 200:
        raise classify_error(ctx.instance, status, content)
    try:
        rows = _ORDER_LIST.validate_json(content)
    except ValidationError as exc:
        raise UpstreamBadResponseError(
            "The provider's order list could not be read.", provider=ctx.instance, upstream_status=status
        ) from exc
    return ListChunk(
        orders=tuple(to_order(ctx, row) for row in rows),
        next_position=next_page(headers.get("link")),
    )


def parse_order(ctx: WaldurContext, status: int, content: bytes) -> Order:
    """A retrieve answer as an Order, or the GatewayError it stands for."""
    if status == 404:
        raise OrderNotFoundError("No such order.")
    if status != 200:
        raise classify_error(ctx.instance, status, content)
    try:
        row = WaldurOrder.model_validate_json(content)
    except ValidationError as exc:
        raise UpstreamBadResponseError(
            "The provider's order could not be read.", provider=ctx.instance, upstream_status=status
        ) from exc
    return to_order(ctx, row)


def to_order(ctx: WaldurContext, row: WaldurOrder) -> Order:
    """Map one Waldur order to the normalised Order (the table in docs/status-mapping.md)."""
    status = waldur_status(row.state)
    created = _utc(row.created)
    modified = _utc(row.modified) if row.modified else None
    completed = _utc(row.completed_at) if row.completed_at else None
    if completed is None and row.state in WALDUR_TERMINAL_STATES:
        completed = modified  # Waldur stamps only `done`; the last change is the terminal time
    order_id = global_order_id(ctx.instance, row.uuid)
    return Order(
        id=order_id,
        provider=ctx.instance,
        provider_kind="waldur",
        native_id=row.uuid,
        name=_order_name(row),
        status=status,
        provider_status=row.state,
        created_at=created,
        updated_at=modified,
        completed_at=completed,
        customer=Ref(id=row.customer_uuid, name=row.customer_name) if row.customer_uuid else None,
        service=Ref(id=row.offering_uuid, name=row.offering_name) if row.offering_uuid else None,
        items=_items(row, status),
        total=_money(row.cost, ctx.currency),
        actions=actions_for(
            row.state, row.offering_type, bool(row.attachment), bool(row.consumer_reviewed_by)
        ),
        links=OrderLinks(
            self=f"{ctx.gateway_url}/orders/{quote(order_id, safe=':')}",
            upstream=f"{ctx.public_url}marketplace-orders/{row.uuid}/" if ctx.public_url else None,
        ),
        extra=_extra(ctx, row),
    )


def _order_name(row: WaldurOrder) -> str | None:
    name = (row.attributes or {}).get("name")
    if isinstance(name, str) and name:
        return name
    return row.resource_name or None


def _items(row: WaldurOrder, status: Any) -> tuple[Item, ...]:
    base_id = row.plan_uuid or row.offering_uuid or row.uuid
    if row.limits:
        return tuple(
            Item(id=f"{base_id}:{component}", name=component, quantity=amount, status=status, unit_price=None)
            for component, amount in sorted(row.limits.items())
        )
    return (
        Item(id=base_id, name=row.plan_name or row.offering_name, quantity=1, status=status, unit_price=None),
    )


def _money(cost: str | float | None, currency: str) -> Money | None:
    if cost is None or cost == "":
        return None
    try:
        amount = Decimal(str(cost))
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    return Money(amount=decimal_text(amount), currency=currency)


def _extra(ctx: WaldurContext, row: WaldurOrder) -> dict[str, Any]:
    """``row.model_dump(mode="json")`` less consumed, hidden and upstream-pointing values.

    Built without the dump, which copied ~100 values per order to change almost none: a JSON
    dump gives strings, ints, bools, nulls and finite floats back as they are, so only the
    containers and non-finite floats of untyped values go through pydantic's dump.
    """
    origin = ctx.upstream_origin
    declared = {name: getattr(row, name) for name in _DECLARED_EXTRA}  # str | None, but:
    declared["attributes"] = _json_value(row.attributes)  # untyped values; `limits` are numbers
    extra = {key: value for key, value in declared.items() if not _points_to(origin, value)}
    extra |= {
        key: value if value.__class__ in _JSON_SCALARS else _json_value(value)
        for key, value in (row.model_extra or {}).items()
        if key not in _HIDDEN and not (value.__class__ is str and value.startswith(origin))
    }
    return extra


# The declared fields that reach `extra`, in declaration order (a dump's order, extras after).
_DECLARED_EXTRA = tuple(name for name in WaldurOrder.model_fields if name not in _CONSUMED | _HIDDEN)
_JSON_SCALARS = frozenset({str, int, bool, type(None)})
_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def _json_value(value: Any) -> Any:
    """An untyped value as a JSON dump has it: NaN and infinities null, at any depth."""
    if value.__class__ in _JSON_SCALARS:
        return value
    if value.__class__ is float:
        return value if math.isfinite(value) else None
    return _ANY.dump_python(value, mode="json")


def _points_to(origin: str, value: Any) -> bool:
    return isinstance(value, str) and value.startswith(origin)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def classify_error(instance: str, status: int, content: bytes) -> GatewayError:
    """One table from Waldur's status codes (waldur.md §7) to ours; upstream text is never used."""
    if status in (401, 403):
        return UpstreamAuthError(
            "The provider refused the gateway's credentials.", provider=instance, upstream_status=status
        )
    if status >= 500:
        return UpstreamBadResponseError(
            "The provider failed to answer.", provider=instance, upstream_status=status
        )
    return UpstreamError("The provider refused the request.", provider=instance, upstream_status=status)


def _detail(content: bytes) -> str | None:
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) else None
