"""A deterministic, realistic history for the simulated IVCAP: services, accounts, orders, aspects.

`build_ivcap_store` gives the same store for the same ``orders``, ``seed`` and ``now``.
Most orders lie in the past two years and are terminal; the newest few (a twenty-fifth,
at least three) were placed in the last two hours and are still pending, scheduled or
executing at ``now``, with their next steps in the future. With ten orders or more, every
status of §6 — ``unknown`` included — is present at ``now``.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from gateway.sim.ivcap_data import (
    ORDER_FINISHED_SCHEMA,
    ORDER_PLACED_SCHEMA,
    TERMINAL_STATUSES,
    Account,
    IvcapOrder,
    IvcapStore,
    Product,
    Service,
    finished_content,
    new_urn,
    placed_content,
)

HISTORY = timedelta(days=730)
RECENT = timedelta(hours=2)
NOTE_SCHEMA = "urn:example:schema:field-note.1"

_SERVICES = (
    ("Fire risk assessment", "Fire risk",
     (("region", ("Upper Valley", "Coastal Plain", "Northern Tablelands")), ("threshold", ("5", "10", "20"))),
     (("fire risk map", "image/geo+tiff", 1_234_963), ("risk summary", "application/json", 4_812))),
    ("Flood inundation model", "Flood model",
     (("catchment", ("North Catchment", "Murray Reach", "Lower Creek")), ("return-period", ("20", "100", "500"))),
     (("inundation depth grid", "image/geo+tiff", 8_402_117), ("flood report", "application/pdf", 311_540))),
    ("Crop yield forecast", "Yield forecast",
     (("crop", ("wheat", "barley", "canola")), ("season", ("2024", "2025"))),
     (("yield forecast", "text/csv", 92_310),)),
    ("Smoke dispersion", "Smoke plume",
     (("source", ("Ridge Road burn", "Block 7B burn")), ("hours", ("6", "12", "24"))),
     (("plume animation", "video/mp4", 24_551_002), ("plume extent", "application/geo+json", 201_774))),
    ("Coastal erosion projection", "Erosion projection",
     (("shoreline", ("Sandy Bay", "Point Lonsdale")), ("scenario", ("RCP4.5", "RCP8.5"))),
     (("erosion lines", "application/geo+json", 512_009),)),
    ("Soil carbon estimate", "Soil carbon",
     (("depth-cm", ("30", "100")), ("method", ("spectral", "model"))),
     (("carbon stock table", "text/csv", 48_120), ("sampling plan", "application/pdf", 151_300))),
)  # fmt: skip
_ACCOUNTS = (
    "Land and Water Research",
    "Regional Fire Service",
    "Upper Valley Council",
    "AgriCo Cooperative",
    "Coastal Management Authority",
    "State Emergency Service",
)
_PLACES = ("Lot 2", "Lot 17", "Upper Valley", "Paddock 14", "Ridge Road", "Block 7B", "North Catchment",
           "Sandy Bay", "Murray Reach", "Station 4", "Farm 31", "East Ridge")  # fmt: skip
_TAGS = ((), (), ("demo",), ("priority",), ("batch-2024",), ("demo", "priority"), ("research",))
_NOTES = ("Requested by the regional office.", "Re-run with updated inputs.", "Checked by a field team.")
# Fates of historical orders: the step each ends in, and after which step an error struck.
_FATES = ("succeeded", "failed", "error@pending", "error@scheduled", "error@executing", "unknown")
_FATE_WEIGHTS = (76, 10, 3, 3, 5, 3)
_LIVE_PHASES = ("pending", "scheduled", "executing")


def build_ivcap_store(*, orders: int, seed: int, now: datetime) -> IvcapStore:
    """A store of ``orders`` seeded orders as they stand at ``now`` (deterministic)."""
    rng = random.Random(seed)
    services = [
        Service(new_urn(rng, "service"), name, title, params, products)
        for name, title, params, products in _SERVICES
    ]
    accounts = [Account(new_urn(rng, "account"), name) for name in _ACCOUNTS]
    store = IvcapStore(services, accounts, rng=random.Random(f"ivcap-store-{seed}"))
    live = min(orders, max(3, orders // 25))
    history = orders - live
    ages = sorted(
        (rng.uniform(RECENT.total_seconds(), HISTORY.total_seconds()) for _ in range(history)), reverse=True
    )
    ages += sorted((rng.uniform(60, RECENT.total_seconds()) for _ in range(live)), reverse=True)
    fates = list(_FATES) + rng.choices(_FATES, _FATE_WEIGHTS, k=max(0, history - len(_FATES)))
    rng.shuffle(fates)
    ordered_at = now
    for index, age in enumerate(ages):
        previous = ordered_at
        ordered_at = (now - timedelta(seconds=age)).replace(microsecond=0)
        if index and index < history and rng.random() < 0.05:
            ordered_at = previous  # a batch: several orders placed in the same second
        if index < history:
            steps, times = _historical(rng, fates[index], ordered_at)
        else:
            steps, times = _live(rng, _LIVE_PHASES[(index - history) % 3], ordered_at, now)
        _add_order(store, rng, steps, times)
    return store


def _seconds(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(seconds=rng.randint(low, high))


def _historical(rng: random.Random, fate: str, ordered_at: datetime) -> tuple[list[str], list[datetime]]:
    steps, times = ["pending"], [ordered_at]
    final, _, after = fate.partition("@")
    for step, low, high in (("scheduled", 2, 120), ("executing", 5, 900)):
        if after and steps[-1] == after:
            break
        steps.append(step)
        times.append(times[-1] + _seconds(rng, low, high))
    steps.append(final)
    times.append(times[-1] + (_seconds(rng, 10, 600) if after else _seconds(rng, 60, 4 * 3600)))
    return steps, times


def _live(
    rng: random.Random, phase: str, ordered_at: datetime, now: datetime
) -> tuple[list[str], list[datetime]]:
    """Steps that put the order in ``phase`` at ``now``, the rest in the future."""
    steps, times = ["pending"], [ordered_at]
    past = ("scheduled", "executing")[: _LIVE_PHASES.index(phase)]
    for step in past:  # spread the steps already taken between the last one and now
        span = (now - times[-1]).total_seconds()
        times.append(times[-1] + timedelta(seconds=int(span * rng.uniform(0.2, 0.8))))
        steps.append(step)
    future = [step for step in ("scheduled", "executing") if step not in past]
    when = now + _seconds(rng, 5, 900)
    for step in future:
        steps.append(step)
        times.append(when)
        when += _seconds(rng, 5, 900)
    steps.append("succeeded" if rng.random() < 0.85 else "failed")
    times.append(when + _seconds(rng, 60, 3 * 3600))
    return steps, times


def _add_order(store: IvcapStore, rng: random.Random, steps: list[str], times: list[datetime]) -> None:
    service = rng.choice(store.services)
    products: tuple[Product, ...] = ()
    if steps[-1] == "succeeded":
        kinds = [service.products[0], *(p for p in service.products[1:] if rng.random() < 0.6)]
        products = tuple(
            Product(new_urn(rng, "artifact"), name, mime, int(size * rng.uniform(0.5, 1.5)))
            for name, mime, size in kinds
        )
    order = store.add(
        IvcapOrder(
            id=new_urn(rng, "order"),
            name=f"{service.title} for {rng.choice(_PLACES)}" if rng.random() < 0.95 else None,
            service=service,
            account=rng.choice(store.accounts),
            times=tuple(times),
            steps=tuple(steps),
            parameters=tuple((name, rng.choice(values)) for name, values in service.parameters),
            tags=rng.choice(_TAGS),
            products=products,
        )
    )
    store.add_aspect(order.id, ORDER_PLACED_SCHEMA, placed_content(order), valid_from=order.ordered_at)
    if steps[-1] in TERMINAL_STATUSES:
        store.add_aspect(order.id, ORDER_FINISHED_SCHEMA, finished_content(order), valid_from=times[-1])
    if rng.random() < 0.25:
        note = {"$schema": NOTE_SCHEMA, "$entity": order.id, "note": rng.choice(_NOTES)}
        store.add_aspect(order.id, NOTE_SCHEMA, note, valid_from=times[0] + timedelta(minutes=30))
