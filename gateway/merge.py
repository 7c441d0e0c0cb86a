"""Ordering, local filtering and boundary handling of orders from several instances (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from gateway.models import Order
from gateway.query import Filters, SortKey

OrderKey = tuple[datetime, str]


def sort_value(order: Order, sort: SortKey) -> datetime:
    if sort.field == "updated_at":
        # An order never changed since creation was last updated when it was created.
        return order.updated_at or order.created_at
    return order.created_at


def order_key(order: Order, sort: SortKey) -> OrderKey:
    """The total order of the listing: the sort field, then the global id."""
    return (sort_value(order, sort), order.id)


def comes_after(key: OrderKey, position: OrderKey | None, sort: SortKey) -> bool:
    """Whether ``key`` lies strictly past ``position`` in the walking direction."""
    if position is None:
        return True
    return key < position if sort.descending else key > position


def later(a: OrderKey | None, b: OrderKey | None, sort: SortKey) -> OrderKey | None:
    """Whichever of two positions lies further along the walking direction."""
    if a is None or b is None:
        return a if b is None else b
    return b if comes_after(b, a, sort) else a


def sort_orders(orders: Iterable[Order], sort: SortKey) -> list[Order]:
    return sorted(orders, key=lambda o: order_key(o, sort), reverse=sort.descending)


def matches(order: Order, filters: Filters) -> bool:
    """Whether ``order`` passes ``filters`` (used for those the upstream did not apply)."""
    f = filters
    if f.statuses and order.status not in f.statuses:
        return False
    if f.provider_statuses and order.provider_status not in f.provider_statuses:
        return False
    if f.customer is not None and (order.customer is None or order.customer.id != f.customer):
        return False
    if f.service is not None and (order.service is None or order.service.id != f.service):
        return False
    if f.created_after is not None and order.created_at < f.created_after:
        return False
    if f.created_before is not None and order.created_at >= f.created_before:
        return False
    if f.updated_after is not None and (order.updated_at or order.created_at) < f.updated_after:
        return False
    return f.q is None or _matches_text(order, f.q)


def _matches_text(order: Order, text: str) -> bool:
    needle = text.casefold()
    haystack = (order.name, order.native_id, order.customer.name if order.customer else None)
    return any(value is not None and needle in value.casefold() for value in haystack)


def complete_prefix(orders: Sequence[Order], sort: SortKey) -> Sequence[Order]:
    """The orders before the trailing run that shares the last sort value (call it when more
    pages follow).

    An upstream that sorts by the time field only may split orders of one timestamp across
    two pages in any order; resuming after the last one seen could then skip a sibling.
    Dropping that run (it is fetched again next time) keeps the walk lossless. When every
    order shares one value, nothing is complete yet and the result is empty.
    """
    if not orders:
        return orders
    last = sort_value(orders[-1], sort)
    cut = len(orders)
    while cut > 0 and sort_value(orders[cut - 1], sort) == last:
        cut -= 1
    return orders[:cut]
