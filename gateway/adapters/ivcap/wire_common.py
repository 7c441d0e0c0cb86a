"""What both IVCAP dialects share, as pure functions: ids, filter clauses, the Order mapping, errors.

Wire facts cited as §N are from ``shared/upstreams/ivcap.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from gateway.adapters.base import ListChunk, ListRequest
from gateway.adapters.ivcap.states import ivcap_status
from gateway.errors import GatewayError, UpstreamAuthError, UpstreamBadResponseError, UpstreamError
from gateway.models import Item, Order, OrderLinks, Ref, Status, format_timestamp, global_order_id

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_URN = re.compile(rf"^urn:ivcap:(?P<kind>[a-z]+):(?P<uuid>{_UUID})$", re.IGNORECASE)
# Keys whose values address the upstream itself: never shown to a caller (API.md §7).
HIDDEN_KEYS = frozenset({"href", "data-href", "data_href", "links"})


@dataclass(frozen=True, slots=True)
class IvcapContext:
    """Per-instance facts the mapping needs."""

    instance: str
    upstream_origin: str  # scheme://host:port of base_url; values pointing there are hidden
    public_url: str | None  # the provider's address as callers see it, for links.upstream
    gateway_url: str  # base of links.self ("" for paths relative to the gateway)
    write_actions: tuple[str, ...] = ()  # Order.actions: the dialect's writes, open in every state


@dataclass(frozen=True, slots=True)
class IvcapRow:
    """One order as either dialect states it, before the normalised mapping."""

    urn: str
    name: str | None
    status: str
    account: str | None
    service: str | None
    ordered_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    items: tuple[Item, ...]
    extra: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Dialect:
    """One dialect's wire functions and status table, as the async shell calls them."""

    states: Mapping[str, Status]
    list_params: Callable[[ListRequest], list[tuple[str, str]] | None]
    parse_list: Callable[[IvcapContext, int, Mapping[str, str], bytes], ListChunk]
    parse_order: Callable[[IvcapContext, int, bytes], Order]


def normalise_urn(value: str, kind: str) -> str | None:
    """``urn:ivcap:<kind>:<uuid>`` with the uuid lower-cased (§2), or None for anything else."""
    match = _URN.match(value)
    if match is None or match["kind"] != kind:
        return None
    return f"urn:ivcap:{kind}:{match['uuid'].lower()}"


def normalise_order_urn(native_id: str) -> str | None:
    """The order URN a native id stands for, or None when it cannot be an IVCAP order."""
    return normalise_urn(native_id, "order")


@dataclass(frozen=True, slots=True)
class FilterFields:
    """A dialect's names for the fields the gateway pushes down."""

    ordered_at: str
    account: str
    service: str


def filter_clauses(request: ListRequest, fields: FilterFields) -> list[str] | None:
    """The ``<field> <op> '<value>'`` clauses of the pushed-down filters (§5, our grammar);
    None when no IVCAP order can match (a customer or service that is no URN of its kind)."""
    f = request.filters
    clauses = []
    if f.created_after is not None:
        clauses.append(f"{fields.ordered_at} ge {filter_literal(format_timestamp(f.created_after))}")
    if f.created_before is not None:
        clauses.append(f"{fields.ordered_at} lt {filter_literal(format_timestamp(f.created_before))}")
    for value, kind, field in (
        (f.customer, "account", fields.account),
        (f.service, "service", fields.service),
    ):
        if value is not None:
            urn = normalise_urn(value, kind)
            if urn is None:
                return None
            clauses.append(f"{field} eq {filter_literal(urn)}")
    return clauses


def filter_literal(value: str) -> str:
    """A quoted filter value, an inner quote doubled (§5, our grammar)."""
    return "'" + value.replace("'", "''") + "'"


def to_order(
    ctx: IvcapContext, row: IvcapRow, states: Mapping[str, Status], terminal: Collection[str]
) -> Order:
    """Map one IVCAP order to the normalised Order (docs/status-mapping.md, docs/decisions.md)."""
    ordered = _utc(row.ordered_at)
    started = _utc(row.started_at) if row.started_at else None
    finished = _utc(row.finished_at) if row.finished_at else None
    order_id = global_order_id(ctx.instance, row.urn)
    return Order(
        id=order_id,
        provider=ctx.instance,
        provider_kind="ivcap",
        native_id=row.urn,
        name=row.name,
        status=ivcap_status(row.status, states),
        provider_status=row.status,
        created_at=ordered,
        updated_at=max(t for t in (ordered, started, finished) if t is not None),
        completed_at=finished if row.status in terminal else None,
        customer=Ref(id=row.account, name=None) if row.account else None,
        service=Ref(id=row.service, name=None) if row.service else None,
        items=row.items,
        total=None,  # IVCAP orders carry no money (§2)
        actions=ctx.write_actions,
        links=OrderLinks(
            self=f"{ctx.gateway_url}/orders/{quote(order_id, safe=':')}",
            upstream=f"{ctx.public_url}orders/{quote_segment(row.urn)}" if ctx.public_url else None,
        ),
        extra=scrub(ctx, row.extra),
    )


def quote_segment(text: str) -> str:
    """``quote(text, safe="")``. A URN needs only its colons escaped; ``quote`` would escape it
    in a Python loop per character (a tenth of mapping an order)."""
    if _COLON_ONLY_TO_ESCAPE.fullmatch(text):
        return text.replace(":", "%3A")
    return quote(text, safe="")


# Text of these characters: `quote(safe="")` leaves all but `:` as they are.
_COLON_ONLY_TO_ESCAPE = re.compile(r"[A-Za-z0-9_.~:-]*")


def scrub(ctx: IvcapContext, fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` without links into the upstream: no ``href``/``data-href``/``links`` key and
    no value, at any depth, that starts with the upstream's own origin."""
    return _scrub_object(ctx.upstream_origin, fields)


_DROP = object()


def _scrub_object(origin: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    kept = {k: _scrub(origin, v) for k, v in fields.items() if k not in HIDDEN_KEYS}
    return {k: v for k, v in kept.items() if v is not _DROP}


def _scrub(origin: str, value: Any) -> Any:
    if isinstance(value, str):
        return _DROP if value.startswith(origin) else value
    if isinstance(value, dict):
        return _scrub_object(origin, value)
    if isinstance(value, list):
        return [v for v in (_scrub(origin, v) for v in value) if v is not _DROP]
    return value


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def bad_response(instance: str, status: int, what: str) -> UpstreamBadResponseError:
    return UpstreamBadResponseError(
        f"The provider's {what} could not be read.", provider=instance, upstream_status=status
    )


def classify_error(instance: str, status: int, content: bytes) -> GatewayError:
    """One table from IVCAP's status codes (§7) to ours; upstream text is never used.

    401/403 (credentials, scopes) → upstream-auth; 5xx (503 has no body) → bad response;
    400, 404 outside a read, 422, 501 and anything else → upstream error with its status.
    """
    if status in (401, 403):
        return UpstreamAuthError(
            "The provider refused the gateway's credentials.", provider=instance, upstream_status=status
        )
    if status >= 500 and status != 501:
        return UpstreamBadResponseError(
            "The provider failed to answer.", provider=instance, upstream_status=status
        )
    return UpstreamError("The provider refused the request.", provider=instance, upstream_status=status)
