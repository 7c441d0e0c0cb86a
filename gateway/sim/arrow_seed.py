"""The simulated ArrowSphere's seeded order history: `build_arrow_store`.

Deterministic for the same ``orders``, ``seed`` and ``now``. Choices on points the wire notes
(``shared/upstreams/arrow.md``) leave open, also in ``docs/decisions.md``:

- Orders are created over the two years before ``now``; a few share their creation second
  with the previous one (bulk orders), so ties in ``dateCreation`` are real.
- References are handed out in creation order from ``XSPO1001``; new orders continue it.
- All of one order's products come from one program and are priced in the customer's
  currency; ``commitmentAmountTotal`` is Σ buy × quantity.
- Every order status of §8, the lower-case ``open`` / ``pending validation`` seen in
  fixtures and docs, and every item status appear once there are enough orders.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from gateway.sim.arrow_catalogue import (
    API_USER,
    CUSTOM_FIELD_LABELS,
    CUSTOMERS,
    IMPERSONATORS,
    ORGANIZATION_UNITS,
    PARTNER_CONTACTS,
    PROGRAM_WEIGHTS,
    PROGRAMS,
    CatalogueProduct,
    Customer,
    products_of,
)
from gateway.sim.arrow_data import (
    ITEM_STATUSES,
    LOWER_CASE_STATUSES,
    ORDER_STATUSES,
    ArrowOrder,
    ArrowProduct,
    ArrowStore,
    HistoryEntry,
    wire_now,
)

HISTORY_SPAN = timedelta(days=730)
RECENT_SPAN = timedelta(days=30)

WAITING = ("Open", "open", "Needs Validation", "Needs Partner Validation", "pending validation",
           "Ongoing Validation", "Pending Finance validation", "Scheduled Order", "Order queued")  # fmt: skip
WORKING = ("Accepted", "Order Validated", "Validated by partner", "Validated by country admin",
           "Validated by arrow finance", "In progress", "Sent", "Syncing with Billfeed")  # fmt: skip
# The item statuses products of an order in each status may have (first one most often).
ITEM_CHOICES: dict[str, tuple[str, ...]] = {
    **{status: ("Pending", "Open", "Pending relationship") for status in WAITING},
    **{status: ("In progress", "Pre-provisioned", "Pending") for status in WORKING},
    "Transfer in progress": ("Transfer in progress",),
    "Transfer ok": ("Transfer ok",),
    "Transfer Failed": ("Transfer Failed",),
    "Migration cancel in progress": ("In progress",),
    "Migration canceled": ("Pending",),
    "Migration failed": ("Internal Error",),
    "Internal Warning": ("Internal Error", "In progress"),
    "External Warning": ("External Error", "In progress"),
    "Billfeed Error": ("Provisioned",),  # provisioned at the vendor, billing failed
    "Fulfilled": ("Provisioned",),
    "Canceled": ("Pending",),
    "Not Accepted": ("Pending",),
    "Archived": ("Archived", "Provisioned"),
}
# Item statuses that mean the vendor holds a licence for the product.
LICENSED_ITEM_STATUSES = frozenset({"Provisioned", "Transfer ok", "Archived", "Pre-provisioned"})

RECENT_WEIGHTS = {
    "Open": 6, "open": 2, "Needs Validation": 3, "Needs Partner Validation": 2,
    "pending validation": 2, "Ongoing Validation": 2, "Pending Finance validation": 2,
    "Scheduled Order": 2, "Order queued": 3, "Accepted": 2, "Order Validated": 3,
    "Validated by partner": 2, "Validated by country admin": 1, "Validated by arrow finance": 1,
    "In progress": 8, "Sent": 2, "Syncing with Billfeed": 2, "Transfer in progress": 2,
    "Migration cancel in progress": 1, "Internal Warning": 1, "External Warning": 1,
    "Fulfilled": 20, "Transfer ok": 3, "Billfeed Error": 1, "Transfer Failed": 1,
    "Migration failed": 1, "Canceled": 4, "Migration canceled": 1, "Not Accepted": 2, "Archived": 1,
}  # fmt: skip
OLD_WEIGHTS = {
    "Fulfilled": 60, "Archived": 20, "Transfer ok": 5, "Canceled": 6, "Not Accepted": 3,
    "Billfeed Error": 1, "Transfer Failed": 1, "Migration failed": 1, "Migration canceled": 1,
    "In progress": 1, "External Warning": 1,
}  # fmt: skip
ALL_SPELLINGS = ORDER_STATUSES + LOWER_CASE_STATUSES
UNCHANGED_SINCE_CREATION = frozenset({"Open", "open", "Scheduled Order"})
_RECENT = (list(RECENT_WEIGHTS), list(RECENT_WEIGHTS.values()))
_OLD = (list(OLD_WEIGHTS), list(OLD_WEIGHTS.values()))


def build_arrow_store(*, orders: int, seed: int, now: datetime) -> ArrowStore:
    """A store of ``orders`` seeded orders created over the two years before ``now``."""
    rng = random.Random(seed)
    now = wire_now(now)
    store = ArrowStore()
    created = _creation_times(rng, orders, now)
    statuses = _pick_statuses(rng, created, now)
    offers = {program: products_of(program) for program in PROGRAMS}
    for when, status in zip(created, statuses, strict=True):
        program = rng.choices(PROGRAMS, PROGRAM_WEIGHTS)[0]
        store.add(_generate_order(rng, store, offers[program], when, status, now))
    _cover_item_statuses(rng, store)
    return store


def _creation_times(rng: random.Random, count: int, now: datetime) -> list[datetime]:
    span = int(HISTORY_SPAN.total_seconds())
    seconds = sorted(rng.randrange(1, span) for _ in range(count))
    times = [now - timedelta(seconds=offset) for offset in reversed(seconds)]
    for index in range(1, len(times)):
        if rng.random() < 0.04:  # a bulk order placed in the same second as the previous one
            times[index] = times[index - 1]
    return times


def _pick_statuses(rng: random.Random, created: list[datetime], now: datetime) -> list[str]:
    statuses = [rng.choices(*(_RECENT if now - when <= RECENT_SPAN else _OLD))[0] for when in created]
    if len(statuses) < len(ALL_SPELLINGS):
        return statuses
    # Every spelling must appear: missing ones replace duplicates among the newest orders.
    newest = max(len(ALL_SPELLINGS) * 2, len(statuses) // 10)
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    for missing in (s for s in ALL_SPELLINGS if s not in counts):
        start = len(statuses) - newest
        candidates = [i for i in range(start, len(statuses)) if counts[statuses[i]] > 1]
        index = rng.choice(candidates)
        counts[statuses[index]] -= 1
        statuses[index] = missing
        counts[missing] = 1
    return statuses


def _generate_order(
    rng: random.Random,
    store: ArrowStore,
    offers: tuple[CatalogueProduct, ...],
    created: datetime,
    status: str,
    now: datetime,
) -> ArrowOrder:
    customer = rng.choice(CUSTOMERS)
    contact = rng.choice(PARTNER_CONTACTS)
    pace = 86400 if now - created > RECENT_SPAN else 3600
    changed = (
        created
        if status in UNCHANGED_SINCE_CREATION
        else min(created + timedelta(seconds=rng.randrange(60, 6 * pace)), now)
    )
    lines = rng.choices(offers, k=rng.choice((1, 1, 1, 2, 2, 3)))
    products = [_generate_product(rng, store, offer, customer, status, created, changed) for offer in lines]
    reference, number = store.next_reference()
    order = ArrowOrder(
        reference=reference,
        number=number,
        status=status,
        date_status=changed,
        date_creation=created,
        order_reference=f"O_ARWS-V7-{rng.getrandbits(32):08x}-{rng.randrange(100000, 999999)}",
        customer=customer,
        contact=contact,
        products=products,
        ponumber=f"PO-{rng.randrange(100, 99999)}" if rng.random() < 0.7 else None,
        end_customer_po=f"ECPO-{rng.randrange(1000, 9999)}" if rng.random() < 0.25 else None,
        created_by=contact.email if rng.random() < 0.8 else API_USER,
        created_by_impersonator=rng.choice(IMPERSONATORS) if rng.random() < 0.05 else None,
        extra_information=_extra_information(lines[0], customer),
        organization_unit=rng.choice(ORGANIZATION_UNITS) if rng.random() < 0.4 else None,
    )
    if status == "Scheduled Order":
        order.scheduled_date = (now + timedelta(days=rng.randrange(3, 60))).date()
    elif rng.random() < 0.05:
        order.scheduled_date = (created + timedelta(days=rng.randrange(1, 20))).date()
    if rng.random() < 0.2:
        order.custom_fields = [
            {"label": rng.choice(CUSTOM_FIELD_LABELS), "value": f"CC-{rng.randrange(100, 999)}"}
        ]
    order.history.append(HistoryEntry("create", "Order created", order.created_by or API_USER, created))
    if changed != created:
        order.history.append(HistoryEntry("status", f"Status changed to {status}", "system", changed))
    return order


def _generate_product(
    rng: random.Random,
    store: ArrowStore,
    offer: CatalogueProduct,
    customer: Customer,
    order_status: str,
    created: datetime,
    changed: datetime,
) -> ArrowProduct:
    item_status = rng.choice(ITEM_CHOICES[order_status])
    span = int((changed - created).total_seconds())
    return ArrowProduct(
        offer=offer,
        quantity=rng.choice(offer.quantities),
        currency=customer.currency,
        buy=offer.buy(customer.currency),
        sell=offer.sell(customer.currency),
        status=item_status,
        date_status=created + timedelta(seconds=rng.randint(0, span)) if span else created,
        detailed_status=item_status,
        is_trial=offer.classification == "SaaS" and rng.random() < 0.03,
        subscription=store.next_subscription(),
        license=store.next_license() if item_status in LICENSED_ITEM_STATUSES else None,
    )


def _extra_information(offer: CatalogueProduct, customer: Customer) -> dict[str, Any]:
    code = offer.program.code
    if code == "Microsoft":
        return {"programs": {code: {"domainName": f"{customer.domain}.onmicrosoft.com"}}}
    if code == "Adobe":
        return {"programs": {code: {"vipMarketplaceId": f"VIP-{customer.reference[3:]}"}}}
    return {"programs": {}}


def _cover_item_statuses(rng: random.Random, store: ArrowStore) -> None:
    """Give each item status absent so far to one product of an order whose status allows it."""
    if len(store) < len(ALL_SPELLINGS):
        return
    counts: dict[str, int] = {}
    for product in (p for order in store for p in order.products):
        counts[product.status] = counts.get(product.status, 0) + 1
    for missing in (s for s in ITEM_STATUSES if s not in counts):
        candidates = [
            o.products[0]
            for o in store
            if missing in ITEM_CHOICES[o.status] and counts[o.products[0].status] > 1
        ]
        if candidates:
            product = rng.choice(candidates)
            counts[product.status] -= 1
            counts[missing] = 1
            product.status = product.detailed_status = missing
            if missing not in LICENSED_ITEM_STATUSES:
                product.license = None
            elif product.license is None:
                product.license = store.next_license()
    store.changed()
