"""The simulated ArrowSphere's ``GET /orders`` query: parameters, selection and order (§5).

Choices on points the wire notes leave open (also in ``docs/decisions.md``):

- ``per_page`` defaults to 25 and is clamped to 100; ``page`` is 1-based. A value that is
  not a positive integer is a 400. An empty value counts as absent; of repeated
  single-valued parameters the last wins (PHP's ``$_GET``). Unknown parameters are ignored.
- ``status`` matches case-insensitively; ``program`` matches a product's
  ``program.legacyCode`` case-insensitively; ``reference`` matches exactly. An unknown
  status or program matches nothing (it is not an error).
- ``from`` keeps orders created on or after the date, ``period`` those created on it,
  ``lastUpdate`` those whose ``dateStatus`` is on or after it (dates are UTC, like the
  times). Anything but ``YYYY-MM-DD`` is a 400.
- ``organizationUnitRef[]`` (also without brackets) is repeatable; the values are ORed.
- ``sortBy`` is the field (``dateCreation`` by default, ``dateStatus``, ``status``,
  ``reference``), ``orderBy`` the direction (``desc`` by default, ``asc``; any case). Ties
  break on ``reference`` in the same direction, so (field, reference) is a total order.
  Anything else is a 400.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from gateway.sim.arrow_data import SORT_FIELDS, ArrowOrder, ArrowStore

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100
DEFAULT_SORT_BY = "dateCreation"
DEFAULT_ORDER_BY = "desc"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_POSITIVE = re.compile(r"^[0-9]{1,9}$")
ORG_UNIT_NAMES = ("organizationUnitRef[]", "organizationUnitRef")
Predicate = Callable[[ArrowOrder], bool]


class InvalidFilterError(Exception):
    """Query parameters the server refuses; ``messages`` names each one."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True, slots=True)
class OrderListQuery:
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    reference: str | None = None
    status: str | None = None  # case-folded
    program: str | None = None  # case-folded
    created_from: date | None = None
    created_on: date | None = None
    updated_from: date | None = None
    organization_units: frozenset[str] | None = None
    sort_by: str = DEFAULT_SORT_BY
    descending: bool = True

    def selection_key(self) -> tuple[object, ...]:
        """Everything but the page: what `OrderSelection` caches on."""
        return (self.reference, self.status, self.program, self.created_from, self.created_on,
                self.updated_from, self.organization_units, self.sort_by, self.descending)  # fmt: skip


def parse_order_list_query(params: Iterable[tuple[str, str]]) -> OrderListQuery:
    """Build the query from ``(name, value)`` pairs or raise `InvalidFilterError`."""
    values: dict[str, list[str]] = {}
    for name, value in params:
        values.setdefault(name, []).append(value)
    errors: list[str] = []

    def single(name: str) -> str | None:
        found = values.get(name)
        text = found[-1].strip() if found else ""
        return text or None

    def positive(name: str, default: int) -> int:
        text = single(name)
        if text is None:
            return default
        if not _POSITIVE.match(text) or int(text) < 1:
            errors.append(f"{name}: must be a positive integer")
            return default
        return int(text)

    def day(name: str) -> date | None:
        text = single(name)
        if text is None:
            return None
        try:
            if not _DATE.match(text):
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError:
            errors.append(f"{name}: must be a date as YYYY-MM-DD")
            return None

    sort_by = single("sortBy") or DEFAULT_SORT_BY
    if sort_by not in SORT_FIELDS:
        errors.append(f"sortBy: must be one of {', '.join(SORT_FIELDS)}")
        sort_by = DEFAULT_SORT_BY
    order_by = (single("orderBy") or DEFAULT_ORDER_BY).lower()
    if order_by not in ("asc", "desc"):
        errors.append("orderBy: must be asc or desc")
    units = frozenset(v.strip() for name in ORG_UNIT_NAMES for v in values.get(name, ()) if v.strip())
    status, program = single("status"), single("program")
    query = OrderListQuery(
        page=positive("page", 1),
        per_page=min(positive("per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE),
        reference=single("reference"),
        status=status.casefold() if status else None,
        program=program.casefold() if program else None,
        created_from=day("from"),
        created_on=day("period"),
        updated_from=day("lastUpdate"),
        organization_units=units or None,
        sort_by=sort_by,
        descending=order_by != "asc",
    )
    if errors:
        raise InvalidFilterError(errors)
    return query


def _predicates(query: OrderListQuery) -> list[Predicate]:
    checks: list[Predicate] = []
    if (reference := query.reference) is not None:
        checks.append(lambda o: o.reference == reference)
    if (status := query.status) is not None:
        checks.append(lambda o: o.status.casefold() == status)
    if (program := query.program) is not None:
        checks.append(lambda o: any(p.offer.program.code.casefold() == program for p in o.products))
    if (created_from := query.created_from) is not None:
        checks.append(lambda o: o.date_creation.date() >= created_from)
    if (created_on := query.created_on) is not None:
        checks.append(lambda o: o.date_creation.date() == created_on)
    if (updated_from := query.updated_from) is not None:
        checks.append(lambda o: o.date_status.date() >= updated_from)
    if (units := query.organization_units) is not None:
        checks.append(lambda o: o.organization_unit in units)
    return checks


def select_orders(store: ArrowStore, query: OrderListQuery) -> Sequence[ArrowOrder]:
    """The store's orders matching ``query``, in its order (all pages)."""
    if query.reference is not None:
        found = store.get(query.reference)
        orders: Sequence[ArrowOrder] = [found] if found is not None else []
    else:
        orders = store.ordered(query.sort_by, query.descending)
    checks = _predicates(query)
    if checks:
        orders = [order for order in orders if all(check(order) for check in checks)]
    return orders


class OrderSelection:
    """`select_orders` with the last few answers cached until the store changes."""

    def __init__(self, store: ArrowStore, *, size: int = 64) -> None:
        self._store = store
        self._size = size
        self._cache: OrderedDict[tuple[object, ...], Sequence[ArrowOrder]] = OrderedDict()

    def select(self, query: OrderListQuery) -> Sequence[ArrowOrder]:
        key = (self._store.version, *query.selection_key())
        found = self._cache.get(key)
        if found is None:
            found = select_orders(self._store, query)
            self._cache[key] = found
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return found


def page_of(orders: Sequence[ArrowOrder], query: OrderListQuery) -> Sequence[ArrowOrder]:
    start = (query.page - 1) * query.per_page
    return orders[start : start + query.per_page]
