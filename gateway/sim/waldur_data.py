"""The simulated Waldur's orders: their model, seeded history and the in-memory store.

Everything here is plain data: no HTTP, no JSON. `build_waldur_store` is deterministic for
the same ``orders``, ``seed`` and ``now``. Wire facts cited as §N are from
``shared/upstreams/waldur.md``.

Choices on points the wire notes leave open:

- ``completed_at`` is set only for ``done`` orders (what ``set_state_done`` does, §6);
  ``erred``, ``canceled`` and ``rejected`` keep it null.
- ``resource_uuid`` and ``marketplace_resource_uuid`` are the same marketplace resource
  uuid, so the ``resource_uuid`` filter matches what the body shows.
- A ``Create`` order makes a new resource; ``Update``/``Terminate``/``Restore`` orders
  reuse an earlier resource of the same project and offering.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from gateway.sim.waldur_catalogue import (
    Offering,
    Plan,
    Project,
    User,
    WaldurCatalogue,
    generate_catalogue,
    new_uuid,
)

ORDER_STATES = (
    "pending-consumer",
    "pending-provider",
    "pending-project",
    "pending-start-date",
    "executing",
    "done",
    "erred",
    "canceled",
    "rejected",
)
# The server stores state as an integer (FSMIntegerField, mastermind enums), so `o=state`
# sorts by these codes, not alphabetically.
STATE_CODES = {
    "pending-consumer": 1,
    "executing": 2,
    "done": 3,
    "erred": 4,
    "canceled": 5,
    "rejected": 6,
    "pending-provider": 7,
    "pending-project": 8,
    "pending-start-date": 9,
}
ORDER_TYPES = ("Create", "Update", "Terminate", "Restore")
# §6: cancel is only offered for these offering types.
CANCELLABLE_OFFERING_TYPES = frozenset({"Marketplace.Basic", "Support.OfferingTemplate"})
CANCELLABLE_STATES = frozenset({"pending-consumer", "pending-provider", "executing"})

HISTORY_SPAN = timedelta(days=730)
RECENT_SPAN = timedelta(days=30)
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file uploaded to an order (``update_attachment``)."""

    name: str
    content_type: str
    content: bytes


@dataclass(slots=True)
class WaldurOrder:
    """One marketplace order as the server's database would hold it (mutable for actions)."""

    uuid: str
    created: datetime
    modified: datetime
    state: str
    type: str
    offering: Offering
    project: Project
    plan: Plan | None  # None: ordered without a plan (the create body's `plan` is optional)
    resource_uuid: str
    resource_name: str
    created_by: User
    slug: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)
    cost: Decimal | None = None
    old_plan: Plan | None = None
    old_cost_estimate: float = 0.0
    consumer_reviewed_by: User | None = None
    consumer_reviewed_at: datetime | None = None
    provider_reviewed_by: User | None = None
    provider_reviewed_at: datetime | None = None
    completed_at: datetime | None = None
    error_updated_at: datetime | None = None
    start_date: date | None = None
    error_message: str = ""
    error_traceback: str = ""
    backend_id: str = ""
    output: str = ""
    request_comment: str | None = None
    callback_url: str | None = None
    attachment: Attachment | None = None
    termination_comment: str | None = None
    consumer_rejection_comment: str = ""
    provider_rejection_comment: str = ""
    auto_approved: bool = False
    seq: int = 0  # insertion order: the tie-breaker a database primary key would be


class WaldurStore:
    """The orders of one simulated Waldur, keyed by uuid hex; mutate only through its methods.

    Sorted views are cached per ordering and dropped on every change (``version`` counts
    changes, so callers may key their own caches on it).
    """

    def __init__(self, catalogue: WaldurCatalogue) -> None:
        self.catalogue = catalogue
        self.version = 0
        self._orders: dict[str, WaldurOrder] = {}
        self._next_seq = 1
        self._ordered: dict[tuple[str, ...], list[WaldurOrder]] = {}

    def __len__(self) -> int:
        return len(self._orders)

    def __iter__(self) -> Iterator[WaldurOrder]:
        return iter(self._orders.values())

    def get(self, order_uuid: str) -> WaldurOrder | None:
        """The order with this uuid (hex or dashed, any case), or None."""
        try:
            key = uuid.UUID(order_uuid).hex
        except ValueError:
            return None
        return self._orders.get(key)

    def add(self, order: WaldurOrder) -> WaldurOrder:
        if order.uuid in self._orders:
            raise ValueError(f"order {order.uuid} already exists")
        order.seq = self._next_seq
        self._next_seq += 1
        self._orders[order.uuid] = order
        self._changed()
        return order

    def save(self, order: WaldurOrder) -> None:
        """Record that a stored order was changed in place."""
        if self._orders.get(order.uuid) is not order:
            raise KeyError(order.uuid)
        self._changed()

    def remove(self, order_uuid: str) -> None:
        del self._orders[order_uuid]
        self._changed()

    def ordered(self, terms: Sequence[str] = ("created",)) -> Sequence[WaldurOrder]:
        """All orders sorted by ``o`` terms (``created``, ``-cost``…), ties by ``seq``."""
        key = tuple(terms)
        cached = self._ordered.get(key)
        if cached is None:
            cached = sorted(self._orders.values(), key=_seq_of)
            for term in reversed(key):  # stable sorts, least significant term first
                name = term.removeprefix("-")
                cached.sort(key=SORT_KEYS[name], reverse=term.startswith("-"))
            self._ordered[key] = cached
        return cached

    def _changed(self) -> None:
        self.version += 1
        self._ordered.clear()


def _seq_of(order: WaldurOrder) -> int:
    return order.seq


def _nullable_key(value: Any) -> tuple[bool, Any]:
    # PostgreSQL puts NULLs last ascending and first descending; reverse=True gives both.
    return (value is None, 0 if value is None else value)


SORT_KEYS: dict[str, Any] = {
    "created": lambda order: order.created,
    "cost": lambda order: _nullable_key(order.cost),
    "state": lambda order: STATE_CODES[order.state],
    "consumer_reviewed_at": lambda order: _nullable_key(order.consumer_reviewed_at),
}


# --- the seeded order history ---------------------------------------------------------

RECENT_WEIGHTS = {
    "pending-consumer": 22,
    "pending-provider": 14,
    "pending-project": 5,
    "pending-start-date": 5,
    "executing": 14,
    "done": 28,
    "erred": 4,
    "canceled": 4,
    "rejected": 4,
}
OLD_WEIGHTS = {"executing": 1, "done": 80, "erred": 6, "canceled": 6, "rejected": 7}
TYPE_WEIGHTS = {"Create": 70, "Update": 18, "Terminate": 10, "Restore": 2}
ERROR_MESSAGES = (
    "Backend returned 500 while creating the allocation.",
    "Quota exceeded on the provider side.",
    "Timed out waiting for the site agent.",
)
PENDING_STATES = frozenset(
    {"pending-consumer", "pending-provider", "pending-project", "pending-start-date", "executing"}
)


def build_waldur_store(*, orders: int, seed: int, now: datetime) -> WaldurStore:
    """A store of ``orders`` seeded orders created over the two years before ``now``."""
    rng = random.Random(seed)
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    store = WaldurStore(generate_catalogue(rng))
    created = _unique_created(rng, orders, now)
    states = _pick_states(rng, created, now)
    resources: dict[tuple[str, str], list[tuple[str, str, Plan]]] = {}
    for when, state in zip(created, states, strict=True):
        store.add(_generate_order(rng, store.catalogue, resources, when, state, now))
    return store


def _unique_created(rng: random.Random, count: int, now: datetime) -> list[datetime]:
    span_us = HISTORY_SPAN // timedelta(microseconds=1)
    offsets: set[int] = set()
    while len(offsets) < count:
        offsets.add(rng.randrange(1, span_us))
    return sorted(now - timedelta(microseconds=offset) for offset in offsets)


def _pick_states(rng: random.Random, created: list[datetime], now: datetime) -> list[str]:
    states = []
    for when in created:
        weights = RECENT_WEIGHTS if now - when <= RECENT_SPAN else OLD_WEIGHTS
        states.append(rng.choices(list(weights), list(weights.values()))[0])
    if len(states) < len(ORDER_STATES):
        return states
    # Every state must appear; missing ones replace duplicates among the newest orders
    # (pending orders are young), terminal ones anywhere.
    newest = max(len(ORDER_STATES), len(states) // 10)
    for missing in (s for s in ORDER_STATES if s not in states):
        start = len(states) - newest if missing in PENDING_STATES else 0
        candidates = [i for i in range(start, len(states)) if states.count(states[i]) > 1]
        states[rng.choice(candidates)] = missing
    return states


def _generate_order(
    rng: random.Random,
    catalogue: WaldurCatalogue,
    resources: dict[tuple[str, str], list[tuple[str, str, Plan]]],
    created: datetime,
    state: str,
    now: datetime,
) -> WaldurOrder:
    offerings = catalogue.offerings
    if state == "canceled":
        offerings = tuple(o for o in offerings if o.type in CANCELLABLE_OFFERING_TYPES)
    elif state == "pending-provider":
        offerings = tuple(o for o in offerings if o.needs_provider_review)
    offering = rng.choice(offerings)
    project = rng.choice(catalogue.projects)
    existing = resources.setdefault((project.uuid, offering.uuid), [])
    order_type = rng.choices(list(TYPE_WEIGHTS), list(TYPE_WEIGHTS.values()))[0]
    if not existing:
        order_type = "Create"
    if order_type == "Create":
        plan = rng.choice(offering.plans)
        name = f"{project.slug.split('-')[0]}-{offering.resource_prefix}-{len(existing) + 1:03d}"
        resource = (new_uuid(rng), name, plan)
        existing.append(resource)
    else:
        resource = rng.choice(existing)
    resource_uuid, resource_name, plan = resource
    limits = {c.type: rng.choice(c.amounts) for c in offering.components}
    cost = _cost_of(offering, plan, limits)
    order_uuid = new_uuid(rng)
    order = WaldurOrder(
        uuid=order_uuid,
        slug=f"{resource_name}-{order_uuid[:4]}",
        created=created,
        modified=created,
        state=state,
        type=order_type,
        offering=offering,
        project=project,
        plan=plan,
        resource_uuid=resource_uuid,
        resource_name=resource_name,
        created_by=rng.choice(catalogue.users_of(project.customer)),
        attributes={"name": resource_name, "description": f"{resource_name} for {project.name}"},
        limits=limits if order_type in ("Create", "Update") else {},
        cost=None if order_type == "Terminate" else cost,
        old_cost_estimate=0.0 if order_type == "Create" else float(cost),
        request_comment=rng.choice((None, None, "Needed for the next milestone.")),
    )
    if order_type == "Update":
        order.old_plan = rng.choice(offering.plans)
        if order.old_plan is not plan:
            order.old_cost_estimate = float(_cost_of(offering, order.old_plan, limits))
    if order_type == "Terminate":
        order.termination_comment = rng.choice((None, "No longer needed."))
        order.attributes = {"name": resource_name}
    _play_lifecycle(rng, catalogue, order, now)
    return order


def _cost_of(offering: Offering, plan: Plan, limits: dict[str, int]) -> Decimal:
    total = sum((Decimal(limits[c.type]) * c.unit_price for c in offering.components), Decimal(0))
    return (total * plan.price_factor + Decimal(str(plan.fixed_price))).quantize(CENT)


def _play_lifecycle(
    rng: random.Random, catalogue: WaldurCatalogue, order: WaldurOrder, now: datetime
) -> None:
    """Fill reviewer, completion and error fields so they agree with ``order.state`` (§6)."""
    clock = order.created
    pace = 86400.0 if now - order.created > RECENT_SPAN else 3600.0

    def later(most_seconds: float) -> datetime:
        nonlocal clock
        clock = min(clock + timedelta(seconds=rng.uniform(0.001, most_seconds)), now)
        return clock

    def consumer_review(*, rejecting: bool = False) -> None:
        if not rejecting and rng.random() < 0.3:  # a manager's own order is approved at once
            order.auto_approved = True
            order.consumer_reviewed_by, order.consumer_reviewed_at = order.created_by, clock
            return
        order.consumer_reviewed_by = rng.choice(catalogue.users_of(order.project.customer))
        order.consumer_reviewed_at = later(2 * pace)

    def provider_review() -> None:
        if order.offering.needs_provider_review:
            order.provider_reviewed_by = rng.choice(catalogue.users_of(order.offering.provider))
            order.provider_reviewed_at = later(3 * pace)

    state = order.state
    later(0.5)  # `modified` trails `created` by a moment even for untouched orders
    if state == "rejected":
        if order.offering.needs_provider_review and rng.random() < 0.5:
            consumer_review()
            provider_review()
            order.provider_rejection_comment = "Requested resources are not available."
        else:
            consumer_review(rejecting=True)
            order.consumer_rejection_comment = "Budget not approved."
    elif state == "canceled":
        if rng.random() < 0.5:
            consumer_review()
        later(5 * pace)
    elif state != "pending-consumer":
        consumer_review()
        if state == "pending-start-date":
            order.start_date = (now + timedelta(days=rng.randint(3, 60))).date()
        elif state not in ("pending-provider", "pending-project"):
            provider_review()
        if state in ("executing", "done", "erred") and order.offering.type == "Marketplace.Slurm":
            order.backend_id = f"{order.offering.resource_prefix}_{order.resource_uuid[:8]}"
        if state == "done":
            order.completed_at = later(4 * pace)
        elif state == "erred":
            order.error_message = rng.choice(ERROR_MESSAGES)
            order.error_traceback = f"Traceback (most recent call last):\n{order.error_message}"
            order.error_updated_at = later(pace)
    order.modified = clock
