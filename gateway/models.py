"""The normalised values every layer speaks: Order and its parts, pages and provider reports."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

ProviderKind = Literal["waldur", "ivcap", "arrow"]


class Status(enum.StrEnum):
    """The normalised order status (API.md §3)."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


TERMINAL_STATUSES = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.REJECTED})


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with ``Z``; microseconds only when non-zero."""
    text = value.astimezone(UTC).replace(tzinfo=None).isoformat()
    return text + "Z"


def decimal_text(amount: Decimal) -> str:
    """Plain decimal text with at least two places: ``12.3400000000`` → ``12.34``."""
    text = format(amount.normalize(), "f")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def _in_utc(value: datetime) -> datetime:
    """Held in UTC, so pydantic's own (compiled) serializer writes what ``format_timestamp``
    would: RFC 3339 with ``Z``. A Python serializer cost ~2 µs a timestamp, a third of
    rendering an order."""
    return value if value.tzinfo is UTC else value.astimezone(UTC)


Timestamp = Annotated[datetime, AfterValidator(_in_utc)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Ref(_Frozen):
    """A named thing an order points at: a customer, a service."""

    id: str
    name: str | None


class Money(_Frozen):
    """An amount as a decimal string with its ISO 4217 currency."""

    amount: str
    currency: str


class Item(_Frozen):
    id: str
    name: str | None
    quantity: int | float | None
    status: Status | None
    unit_price: Money | None


class OrderLinks(_Frozen):
    self: str
    upstream: str | None


class Order(_Frozen):
    """One order, whichever upstream holds it (API.md §3). Every field is always present."""

    id: str
    provider: str
    provider_kind: ProviderKind
    native_id: str
    name: str | None
    status: Status
    provider_status: str
    created_at: Timestamp
    updated_at: Timestamp | None
    completed_at: Timestamp | None
    customer: Ref | None
    service: Ref | None
    items: tuple[Item, ...]
    total: Money | None
    actions: tuple[str, ...]
    links: OrderLinks
    extra: dict[str, Any]


def global_order_id(instance: str, native_id: str) -> str:
    """``<instance>:<native id>`` (API.md §2)."""
    return f"{instance}:{native_id}"


def split_order_id(order_id: str) -> tuple[str, str] | None:
    """The (instance, native id) of a global id, or None when it has no instance part."""
    instance, sep, native = order_id.partition(":")
    if not sep or not instance or not native:
        return None
    return instance, native


class ProblemBody(BaseModel):
    """An RFC 9457 problem as it appears inside a provider report."""

    model_config = ConfigDict(frozen=True, extra="allow")

    type: str
    title: str
    status: int
    detail: str


ReadSource = Literal["hit", "miss", "stale", "refresh", "collapsed", "bypass"]


@dataclass(frozen=True, slots=True)
class ReadOutcome:
    """How a read was answered: ``hit`` (the read cache, fresh), ``miss``/``refresh``/
    ``collapsed`` (fetched, the last by another request's call), ``stale`` (the cache, past
    its TTL, because the upstream failed) or ``bypass`` (not cached); the answer's age and
    the freshness it has left (negative when stale); and which cache entry it was (its key
    and ``stored_at``), when one was."""

    source: ReadSource
    age_s: float = 0.0
    ttl_left_s: float = 0.0
    key: str | None = None
    stored_at: float | None = None


class ProviderReport(_Frozen):
    """What happened at one instance while answering a list request."""

    status: Literal["ok", "error"]
    ms: int
    # Where the orders came from: the upstream, the read cache, or the cache past its TTL
    # because the upstream failed.
    source: Literal["upstream", "cache", "stale"] = "upstream"
    error: ProblemBody | None = None
    filters_pushed_down: tuple[str, ...] = ()
    filters_applied_locally: tuple[str, ...] = ()
    # True when this instance used all the upstream calls one page may make, so the page
    # ended early (short, never lossy: the cursor resumes there).
    call_limit_reached: bool = False


class OrderPage(_Frozen):
    """One page of ``GET /orders``."""

    data: tuple[Order, ...]
    next_cursor: str | None
    has_more: bool
    providers: dict[str, ProviderReport]
    # How the page's reads were answered, for X-Cache / Cache-Status (not part of the body).
    cache: ReadOutcome | None = Field(default=None, exclude=True)


class Health(_Frozen):
    """One instance's reachability as last seen by a probe."""

    status: Literal["ok", "error"]
    ms: int
    error: str | None = None
    # The instance's circuit breaker (None where no breaker wraps the adapter).
    circuit: Literal["closed", "open", "half-open"] | None = None


class CreateOrderBody(BaseModel):
    """The ``POST /orders`` body (API.md §6); the adapter validates the kind-specific rest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, max_length=255)
    service: str | None = Field(default=None, max_length=255)
    customer: str | None = Field(default=None, max_length=255)
    items: tuple[dict[str, Any], ...] = Field(default=(), max_length=200)
    parameters: dict[str, Any] = Field(default_factory=dict)
    provider_options: dict[str, Any] = Field(default_factory=dict)
