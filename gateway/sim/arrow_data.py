"""The simulated ArrowSphere's orders: their model, status names and the in-memory store.

Plain data: no HTTP, no JSON, no randomness (`arrow_seed` fills a store). Wire facts cited
as §N are from ``shared/upstreams/arrow.md``. Times are UTC and whole seconds: the wire has
no zone and no fraction (§2).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from gateway.sim.arrow_catalogue import CatalogueProduct, Contact, Customer

# §8, `OrderStatusEnum`, spelled (and capitalised) as Arrow does.
ORDER_STATUSES = (
    "Accepted", "Archived", "Billfeed Error", "External Warning", "Fulfilled", "In progress",
    "Internal Warning", "Migration canceled", "Migration cancel in progress", "Migration failed",
    "Needs Validation", "Needs Partner Validation", "Not Accepted", "Ongoing Validation", "Open",
    "Order queued", "Syncing with Billfeed", "Transfer Failed", "Transfer in progress",
    "Transfer ok", "Sent", "Order Validated", "Scheduled Order", "Canceled",
    "Pending Finance validation", "Validated by partner", "Validated by country admin",
    "Validated by arrow finance",
)  # fmt: skip
# Spellings seen in fixtures and docs besides the enum (§8): compare case-insensitively.
LOWER_CASE_STATUSES = ("open", "pending validation")
# §8, `OrderItemStatusEnum`.
ITEM_STATUSES = (
    "Archived", "External Error", "In progress", "Internal Error", "Open", "Pending",
    "Pending relationship", "Pre-provisioned", "Provisioned", "Transfer Failed",
    "Transfer in progress", "Transfer ok",
)  # fmt: skip

FIRST_REFERENCE = 1001
FIRST_SUBSCRIPTION = 50001
FIRST_LICENSE = 87001


@dataclass(slots=True)
class ArrowProduct:
    """One product line of an order."""

    offer: CatalogueProduct
    quantity: int
    currency: str
    buy: Decimal
    sell: Decimal
    status: str
    date_status: datetime
    detailed_status: str
    is_trial: bool
    subscription: str
    license: str | None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    action: str
    description: str
    user: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    content: bytes
    last_modified: datetime


@dataclass(slots=True)
class ArrowOrder:
    """One order as Arrow's database would hold it (mutable for actions)."""

    reference: str
    number: int
    status: str
    date_status: datetime
    date_creation: datetime
    order_reference: str
    customer: Customer
    contact: Contact
    products: list[ArrowProduct]
    ponumber: str | None = None
    end_customer_po: str | None = None
    created_by: str | None = None
    created_by_impersonator: str | None = None
    scheduled_date: date | None = None
    extra_information: dict[str, Any] = field(default_factory=dict)
    organization_unit: str | None = None
    custom_fields: list[dict[str, str]] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    attachments: dict[str, Attachment] = field(default_factory=dict)
    contributors: list[dict[str, Any]] = field(default_factory=list)
    additional_information: list[dict[str, str]] = field(default_factory=list)

    @property
    def commitment_amount_total(self) -> Decimal:
        return sum((p.buy * p.quantity for p in self.products), Decimal(0))


class ArrowStore:
    """The orders of one simulated Arrow, keyed by reference; change them only through its methods.

    Sorted views are cached per ordering and dropped on every change (``version`` counts
    changes, so callers may key their own caches on it).
    """

    def __init__(self) -> None:
        self.version = 0
        self._orders: dict[str, ArrowOrder] = {}
        self._next_number = FIRST_REFERENCE
        self._next_subscription = FIRST_SUBSCRIPTION
        self._next_license = FIRST_LICENSE
        self._ordered: dict[tuple[str, bool], list[ArrowOrder]] = {}

    def __len__(self) -> int:
        return len(self._orders)

    def __iter__(self) -> Iterator[ArrowOrder]:
        return iter(self._orders.values())

    def get(self, reference: str) -> ArrowOrder | None:
        return self._orders.get(reference)

    def next_reference(self) -> tuple[str, int]:
        number = self._next_number
        self._next_number += 1
        return f"XSPO{number}", number

    def next_subscription(self) -> str:
        self._next_subscription += 1
        return f"XSPS{self._next_subscription - 1}"

    def next_license(self) -> str:
        self._next_license += 1
        return f"XSP{self._next_license - 1}"

    def add(self, order: ArrowOrder) -> ArrowOrder:
        if order.reference in self._orders:
            raise ValueError(f"order {order.reference} already exists")
        self._orders[order.reference] = order
        self.changed()
        return order

    def changed(self) -> None:
        """Record that an order was added or changed in place."""
        self.version += 1
        self._ordered.clear()

    def ordered(self, sort_by: str, descending: bool) -> list[ArrowOrder]:
        """All orders sorted by ``sort_by`` in one direction, ties by reference in the same one."""
        key = (sort_by, descending)
        cached = self._ordered.get(key)
        if cached is None:
            field_of = SORT_FIELDS[sort_by]
            cached = sorted(
                self._orders.values(), key=lambda o: (field_of(o), o.reference), reverse=descending
            )
            self._ordered[key] = cached
        return cached


SORT_FIELDS: dict[str, Any] = {
    "dateCreation": lambda order: order.date_creation,
    "dateStatus": lambda order: order.date_status,
    "status": lambda order: order.status.casefold(),
    "reference": lambda order: order.reference,
}


def wire_now(now: datetime) -> datetime:
    """``now`` as the store keeps times: UTC, whole seconds."""
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return now.replace(microsecond=0)
