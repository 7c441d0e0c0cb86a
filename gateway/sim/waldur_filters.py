"""The simulated Waldur's order-list query: parsing its parameters and selecting orders (§5).

Parsing follows django-filter as Waldur's ``OrderFilter`` uses it: empty values are
ignored, the last of repeated single-valued parameters wins, choice filters refuse unknown
values, and every refusal of one request is reported together in one DRF-shaped 400 body.

Choices on points the wire notes leave open:

- ``created_before`` / ``modified_before`` are inclusive (``lte``).
- ``o`` accepts repeated parameters and comma-separated lists; unknown terms are dropped.
- ``offering_slug`` accepts repeated parameters as well as comma-separated lists.
- ``query`` matches project name, resource name (``attributes.name``) and order slug, as
  the server's ``filter_query`` does.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from gateway.sim.waldur_data import ORDER_STATES, ORDER_TYPES, SORT_KEYS, WaldurOrder, WaldurStore

DEFAULT_ORDERING = ("created",)
INVALID_CHOICE = "Select a valid choice. {} is not one of the available choices."
INVALID_UUID = "Enter a valid UUID."
INVALID_DATETIME = "Enter a valid date/time."
# django's NullBooleanSelect: anything else means "not given".
BOOLEAN_VALUES = {"true": True, "True": True, "2": True, "false": False, "False": False, "3": False}
UUID_FILTERS = (
    "customer_uuid",
    "project_uuid",
    "provider_uuid",
    "offering_uuid",
    "category_uuid",
    "resource_uuid",
    "parent_offering_uuid",
    "service_manager_uuid",
)
DATETIME_FILTERS = ("created", "created_before", "modified", "modified_before")

Predicate = Callable[[WaldurOrder], bool]


class InvalidFilterError(Exception):
    """Query parameters a real server refuses; ``errors`` is its 400 body."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True, slots=True)
class OrderListQuery:
    """The filters and ordering of one list request (hashable, so results can be cached)."""

    states: frozenset[str] | None = None
    types: frozenset[str] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    modified_from: datetime | None = None
    modified_to: datetime | None = None
    uuids: tuple[tuple[str, str], ...] = ()  # (filter name, uuid hex)
    offering_types: frozenset[str] | None = None
    offering_slugs: frozenset[str] | None = None
    offering_link: str | None = None  # uuid hex from an `offering` URL; "" matches nothing
    resource_link: str | None = None
    resource_name: str | None = None
    slug: str | None = None
    text: str | None = None
    consumer_approvable: bool | None = None
    provider_approvable: bool | None = None
    was_auto_approved: bool | None = None
    ordering: tuple[str, ...] = DEFAULT_ORDERING


def parse_order_list_query(params: Iterable[tuple[str, str]]) -> OrderListQuery:
    """Build the query from ``(name, value)`` pairs or raise `InvalidFilterError`."""
    values: defaultdict[str, list[str]] = defaultdict(list)
    for name, value in params:
        values[name].append(value)
    errors: dict[str, list[str]] = {}

    def single(name: str) -> str | None:
        found = values.get(name)
        text = found[-1].strip() if found else ""
        return text or None

    def choices(name: str, allowed: Sequence[str]) -> frozenset[str] | None:
        found = values.get(name)
        if not found:
            return None
        invalid = [value for value in found if value not in allowed]
        if invalid:
            errors[name] = [INVALID_CHOICE.format(invalid[0])]
        return frozenset(found)

    def uuid_hex(name: str) -> str | None:
        text = single(name)
        if text is None:
            return None
        try:
            return uuid.UUID(text).hex
        except ValueError:
            errors[name] = [INVALID_UUID]
            return None

    def moment(name: str) -> datetime | None:
        text = single(name)
        if text is None:
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            errors[name] = [INVALID_DATETIME]
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def boolean(name: str) -> bool | None:
        text = single(name)
        return None if text is None else BOOLEAN_VALUES.get(text)

    def split_csv(name: str) -> list[str]:
        return [part.strip() for value in values.get(name, ()) for part in value.split(",")]

    states = choices("state", ORDER_STATES)
    types = choices("type", ORDER_TYPES)
    created_from, created_to, modified_from, modified_to = map(moment, DATETIME_FILTERS)
    uuids = tuple((name, hex_) for name in UUID_FILTERS if (hex_ := uuid_hex(name)) is not None)
    slugs = [slug for slug in split_csv("offering_slug") if slug]
    ordering = tuple(dict.fromkeys(term for term in split_csv("o") if _is_sort_term(term)))
    query = OrderListQuery(
        states=states,
        types=types,
        created_from=created_from,
        created_to=created_to,
        modified_from=modified_from,
        modified_to=modified_to,
        uuids=uuids,
        offering_types=frozenset(values["offering_type"]) if values.get("offering_type") else None,
        offering_slugs=frozenset(slugs) if slugs else None,
        offering_link=_uuid_in_link(single("offering")),
        resource_link=_uuid_in_link(single("resource")),
        resource_name=single("resource_name"),
        slug=single("slug"),
        text=single("query"),
        consumer_approvable=boolean("can_approve_as_consumer"),
        provider_approvable=boolean("can_approve_as_provider"),
        was_auto_approved=boolean("was_auto_approved"),
        ordering=ordering or DEFAULT_ORDERING,
    )
    if errors:
        raise InvalidFilterError(errors)
    return query


def _is_sort_term(term: str) -> bool:
    return term.removeprefix("-") in SORT_KEYS


def _uuid_in_link(link: str | None) -> str | None:
    if link is None:
        return None
    segments = [segment for segment in urlsplit(link).path.split("/") if segment]
    try:
        return uuid.UUID(segments[-1]).hex
    except (IndexError, ValueError):
        return ""


UUID_OF: dict[str, Callable[[WaldurOrder], Iterable[str]]] = {
    "customer_uuid": lambda order: (order.project.customer.uuid,),
    "project_uuid": lambda order: (order.project.uuid,),
    "provider_uuid": lambda order: (order.offering.provider.uuid,),
    "offering_uuid": lambda order: (order.offering.uuid,),
    "category_uuid": lambda order: (order.offering.category.uuid,),
    "resource_uuid": lambda order: (order.resource_uuid,),
    # No simulated offering has a parent or a service manager: valid uuids match nothing.
    "parent_offering_uuid": lambda order: (),
    "service_manager_uuid": lambda order: (),
}


def _predicates(query: OrderListQuery) -> list[Predicate]:
    checks: list[Predicate] = []
    if (states := query.states) is not None:
        checks.append(lambda o: o.state in states)
    if (types := query.types) is not None:
        checks.append(lambda o: o.type in types)
    if (created_from := query.created_from) is not None:
        checks.append(lambda o: o.created >= created_from)
    if (created_to := query.created_to) is not None:
        checks.append(lambda o: o.created <= created_to)
    if (modified_from := query.modified_from) is not None:
        checks.append(lambda o: o.modified >= modified_from)
    if (modified_to := query.modified_to) is not None:
        checks.append(lambda o: o.modified <= modified_to)
    checks.extend(_has_uuid(UUID_OF[name], wanted) for name, wanted in query.uuids)
    if (kinds := query.offering_types) is not None:
        checks.append(lambda o: o.offering.type in kinds)
    if (slugs := query.offering_slugs) is not None:
        checks.append(lambda o: o.offering.slug in slugs)
    if (offering_link := query.offering_link) is not None:
        checks.append(lambda o: o.offering.uuid == offering_link)
    if (resource_link := query.resource_link) is not None:
        checks.append(lambda o: o.resource_uuid == resource_link)
    if (resource_name := query.resource_name) is not None:
        checks.append(lambda o: o.resource_name == resource_name)
    if (slug := query.slug) is not None:
        checks.append(lambda o: o.slug == slug)
    # Waldur restricts to the pending state whether the flag is true or false.
    if query.consumer_approvable is not None:
        checks.append(lambda o: o.state == "pending-consumer")
    if query.provider_approvable is not None:
        checks.append(lambda o: o.state == "pending-provider")
    if (auto_approved := query.was_auto_approved) is not None:
        checks.append(lambda o: o.auto_approved == auto_approved)
    return checks


def _has_uuid(uuids_of: Callable[[WaldurOrder], Iterable[str]], wanted: str) -> Predicate:
    return lambda order: wanted in uuids_of(order)


def _search(orders: Sequence[WaldurOrder], text: str) -> Sequence[WaldurOrder]:
    try:
        wanted = uuid.UUID(text).hex
    except ValueError:
        pass
    else:
        exact = [order for order in orders if order.uuid == wanted]
        if exact:
            return exact
    needle = text.casefold()
    return [
        order
        for order in orders
        if needle in order.project.name.casefold()
        or needle in str(order.attributes.get("name", "")).casefold()
        or needle in order.slug.casefold()
    ]


def select_orders(store: WaldurStore, query: OrderListQuery) -> Sequence[WaldurOrder]:
    """The store's orders that match ``query``, in its ordering."""
    orders = store.ordered(query.ordering)
    checks = _predicates(query)
    if checks:
        orders = [order for order in orders if all(check(order) for check in checks)]
    if query.text is not None:
        orders = _search(orders, query.text)
    return orders


class OrderSelection:
    """`select_orders` with the last few answers cached until the store changes."""

    def __init__(self, store: WaldurStore, *, size: int = 64) -> None:
        self._store = store
        self._size = size
        self._cache: OrderedDict[tuple[int, OrderListQuery], Sequence[WaldurOrder]] = OrderedDict()

    def select(self, query: OrderListQuery) -> Sequence[WaldurOrder]:
        key = (self._store.version, query)
        found = self._cache.get(key)
        if found is None:
            found = select_orders(self._store, query)
            self._cache[key] = found
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return found
