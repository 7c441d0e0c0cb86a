"""The simulated IVCAP's data: services, accounts, orders with their lifecycle, aspects, the store.

Everything here is plain data: no HTTP, no JSON. Wire facts cited as §N are from
``shared/upstreams/ivcap.md``; `ivcap_seed` fills a store with a deterministic history.

An order's status is never stored: each order carries the times at which its lifecycle
steps begin (§6: ``pending`` → ``scheduled`` → ``executing`` → ``succeeded`` | ``failed``,
``error`` from any non-terminal step, ``unknown`` when the backend lost track), and the
status at any instant is read from them. A fake clock therefore watches orders move.
"""

from __future__ import annotations

import random
import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

STATUSES = ("unknown", "pending", "scheduled", "executing", "succeeded", "failed", "error")  # §6
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "error"})
# The lifecycle of an order created through the API: every step a fixed time after the last,
# so a test with a fake clock knows when to look.
CREATED_ORDER_STEPS = (
    ("pending", timedelta(0)),
    ("scheduled", timedelta(seconds=2)),
    ("executing", timedelta(seconds=5)),
    ("succeeded", timedelta(seconds=60)),
)
ORDER_PLACED_SCHEMA = "urn:ivcap:schema:order-placed.1"
ORDER_FINISHED_SCHEMA = "urn:ivcap:schema:order-finished.1"


_URN = re.compile(r"^urn:ivcap:([a-z]+):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_urn(value: object, kind: str) -> bool:
    """Whether ``value`` is ``urn:ivcap:<kind>:<uuid>`` (§2)."""
    match = _URN.match(value) if isinstance(value, str) else None
    return match is not None and match[1] == kind


def new_urn(rng: random.Random, kind: str) -> str:
    """``urn:ivcap:<kind>:<uuid4>`` (dashed lowercase, §2) from ``rng``, so seeds repeat."""
    # uuid.UUID(int=..., version=4), spelled out: building 30,000 orders makes ~130,000 of them.
    bits = rng.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48) | (0x4000 << 64) | (0x8000 << 48)
    h = f"{bits:032x}"
    return f"urn:ivcap:{kind}:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    name: str
    title: str  # the start of its orders' names: "Fire risk" for "Fire risk for Lot 2"
    parameters: tuple[tuple[str, tuple[str, ...]], ...]  # name and the values it takes
    products: tuple[tuple[str, str, int], ...]  # name, mime type, typical size in bytes


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Product:
    id: str  # urn:ivcap:artifact:<uuid>
    name: str
    mime_type: str
    size: int


@dataclass(slots=True)
class Aspect:
    """One metadata record attached to an entity (an order here)."""

    id: str
    entity: str
    schema: str
    content: dict[str, Any]
    valid_from: datetime
    account: str
    policy: str
    content_type: str = "application/json"
    valid_to: datetime | None = None

    def valid_at(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)


@dataclass(slots=True)
class IvcapOrder:
    """One order: who asked for what, and when each lifecycle step begins."""

    id: str
    name: str | None
    service: Service
    account: Account
    times: tuple[datetime, ...]  # times[0] is ordered-at; ascending
    steps: tuple[str, ...]  # steps[i] is the status from times[i] on; steps[0] == "pending"
    parameters: tuple[tuple[str, str], ...]
    tags: tuple[str, ...] = ()
    products: tuple[Product, ...] = ()  # visible once the order has succeeded

    @property
    def ordered_at(self) -> datetime:
        return self.times[0]

    def status_at(self, at: datetime) -> str:
        return self.steps[max(0, bisect_right(self.times, at) - 1)]

    def started_at(self, at: datetime) -> datetime | None:
        """When ``executing`` began, if it had by ``at`` (§6: set when execution starts)."""
        for when, step in zip(self.times, self.steps, strict=True):
            if when > at:
                return None
            if step == "executing":
                return when
        return None

    def finished_at(self, at: datetime) -> datetime | None:
        """When the order reached a terminal status, if it had by ``at``."""
        index = bisect_right(self.times, at) - 1
        return self.times[index] if index >= 0 and self.steps[index] in TERMINAL_STATUSES else None

    def products_at(self, at: datetime) -> tuple[Product, ...]:
        return self.products if self.status_at(at) == "succeeded" else ()


class IvcapStore:
    """The services, accounts, orders and aspects of one simulated IVCAP.

    Change it only through its methods: ``version`` counts changes, so views cached on it
    (the time-ordered index here, selections in `ivcap_filters`) stay right.
    """

    def __init__(
        self, services: Sequence[Service], accounts: Sequence[Account], *, rng: random.Random
    ) -> None:
        self.services = tuple(services)
        self.accounts = tuple(accounts)
        self.caller = self.accounts[0]  # the account the simulator's token belongs to
        self.policy = new_urn(rng, "policy")
        self.version = 0
        self._rng = rng
        self._services = {service.id: service for service in self.services}
        self._orders: dict[str, IvcapOrder] = {}
        self._aspects: dict[str, Aspect] = {}
        self._aspects_of: dict[str, list[Aspect]] = {}
        self._by_time: tuple[int, list[IvcapOrder], list[datetime]] | None = None

    def __len__(self) -> int:
        return len(self._orders)

    def __iter__(self) -> Iterator[IvcapOrder]:
        return iter(self._orders.values())

    def get(self, order_id: str) -> IvcapOrder | None:
        return self._orders.get(order_id)

    def service(self, service_id: str) -> Service | None:
        return self._services.get(service_id)

    def account(self, account_id: str) -> Account | None:
        return next((a for a in self.accounts if a.id == account_id), None)

    def add(self, order: IvcapOrder) -> IvcapOrder:
        if order.id in self._orders:
            raise ValueError(f"order {order.id} already exists")
        self._orders[order.id] = order
        self.version += 1
        return order

    def create_order(
        self,
        service: Service,
        *,
        now: datetime,
        name: str | None,
        parameters: Sequence[tuple[str, str]],
        tags: Sequence[str] = (),
        account: Account | None = None,
    ) -> IvcapOrder:
        """A new order placed ``now``; it moves on by `CREATED_ORDER_STEPS` and succeeds."""
        times, when = [], now
        for _, delay in CREATED_ORDER_STEPS:
            when += delay
            times.append(when)
        order = IvcapOrder(
            id=new_urn(self._rng, "order"),
            name=name,
            service=service,
            account=account or self.caller,
            times=tuple(times),
            steps=tuple(step for step, _ in CREATED_ORDER_STEPS),
            parameters=tuple(parameters),
            tags=tuple(tags),
            products=tuple(
                Product(new_urn(self._rng, "artifact"), name_, mime, size)
                for name_, mime, size in service.products
            ),
        )
        self.add(order)
        self.add_aspect(order.id, ORDER_PLACED_SCHEMA, placed_content(order), valid_from=now)
        self.add_aspect(order.id, ORDER_FINISHED_SCHEMA, finished_content(order), valid_from=times[-1])
        return order

    def ordered_by_time(self) -> tuple[list[IvcapOrder], list[datetime]]:
        """Every order by (ordered-at, id) ascending, and their ordered-at times (for bisect)."""
        if self._by_time is None or self._by_time[0] != self.version:
            rows = sorted(self._orders.values(), key=lambda o: (o.ordered_at, o.id))
            self._by_time = (self.version, rows, [o.ordered_at for o in rows])
        return self._by_time[1], self._by_time[2]

    # --- aspects -------------------------------------------------------------------------

    def add_aspect(
        self,
        entity: str,
        schema: str,
        content: dict[str, Any],
        *,
        valid_from: datetime,
        policy: str | None = None,
    ) -> Aspect:
        aspect = Aspect(
            id=new_urn(self._rng, "aspect"),
            entity=entity,
            schema=schema,
            content=content,
            valid_from=valid_from,
            account=self.caller.id,
            policy=policy or self.policy,
        )
        self._aspects[aspect.id] = aspect
        self._aspects_of.setdefault(entity, []).append(aspect)
        self.version += 1
        return aspect

    def aspect(self, aspect_id: str) -> Aspect | None:
        return self._aspects.get(aspect_id)

    def aspects(self, entity: str | None = None) -> Sequence[Aspect]:
        """The aspects of ``entity``, or every aspect when None (in insertion order)."""
        if entity is None:
            return list(self._aspects.values())
        return self._aspects_of.get(entity, [])


def placed_content(order: IvcapOrder) -> dict[str, Any]:
    return {
        "$schema": ORDER_PLACED_SCHEMA,
        "$entity": order.id,
        "service": order.service.id,
        "parameters": [{"name": n, "value": v} for n, v in order.parameters],
    }


def finished_content(order: IvcapOrder) -> dict[str, Any]:
    return {
        "$schema": ORDER_FINISHED_SCHEMA,
        "$entity": order.id,
        "status": order.steps[-1],
        "products": [product.id for product in order.products],
    }
