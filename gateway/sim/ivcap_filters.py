"""The simulated IVCAP's order selection: the filter grammar, ordering, and opaque page tokens.

The filter grammar is not published (ivcap.md §5, INFERRED); the simulator's choice,
shared by both dialects with their own field names:

- clauses ``<field> <op> '<value>'`` joined by ``and`` (any case); no ``or``, no parentheses;
- operators ``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge`` (whitespace around them required)
  and ``~=`` (SQL ``LIKE``: ``%`` matches any run of characters, everything else — ``_``
  included — is literal; case-sensitive);
- a quote inside a value is doubled (``'O''Brien'``);
- ``ordered-at`` values are RFC 3339 and compared as instants (no offset means UTC); other
  fields compare as text; ``~=`` on a time is refused;
- an order without the field (a nameless order) matches no clause on it, ``ne`` included;
- an empty filter selects everything.

Ties of any ordering are broken by the order id, in the ordering's direction.
"""

from __future__ import annotations

import base64
import binascii
import re
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.sim.ivcap_data import IvcapOrder, IvcapStore

StatusOf = Callable[[IvcapOrder, datetime], str]
Predicate = Callable[[IvcapOrder], bool]

_CLAUSE = re.compile(
    r"\s*(?P<field>[A-Za-z][A-Za-z0-9_-]*)"
    r"(?:\s*(?P<like>~=)\s*|\s+(?P<op>eq|ne|lt|le|gt|ge)\s+)"
    r"'(?P<value>(?:[^']|'')*)'"
    r"(?:\s+and\s+(?=\S)|\s*\Z)",
    re.IGNORECASE,
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}
SORTABLE = ("ordered_at", "name", "status")


class FilterSyntaxError(ValueError):
    """A filter the grammar cannot read; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Clause:
    field: str  # canonical: name, status, service, account, ordered_at
    op: str  # eq ne lt le gt ge like
    value: str | datetime


@dataclass(frozen=True, slots=True)
class OrderQuery:
    """The filter and ordering of one list request; hashable, so selections can be cached."""

    clauses: tuple[Clause, ...] = ()
    ordering: tuple[tuple[str, bool], ...] = (("ordered_at", True),)  # (field, descending)


def parse_filter(text: str, fields: Mapping[str, str]) -> tuple[Clause, ...]:
    """Read a filter whose field names are the keys of ``fields`` (mapped to canonical ones)."""
    clauses: list[Clause] = []
    position = 0
    if not text.strip():
        return ()
    while position < len(text):
        match = _CLAUSE.match(text, position)
        if match is None:
            raise FilterSyntaxError(
                f"cannot read the filter at character {position + 1}: "
                "expected <field> <op> '<value>', clauses joined by 'and'"
            )
        name = match["field"]
        if name not in fields:
            known = ", ".join(fields)
            raise FilterSyntaxError(f"unknown filter field '{name}' (known: {known})")
        field = fields[name]
        op = "like" if match["like"] else match["op"].lower()
        raw = match["value"].replace("''", "'")
        value: str | datetime = raw
        if field == "ordered_at":
            if op == "like":
                raise FilterSyntaxError(f"'~=' does not apply to '{name}'")
            value = _instant(raw, name)
        clauses.append(Clause(field, op, value))
        position = match.end()
    return tuple(clauses)


def _instant(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FilterSyntaxError(f"'{name}' needs an RFC 3339 time, not '{text}'") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def like_pattern(pattern: str) -> re.Pattern[str]:
    """SQL ``LIKE`` with ``%`` as the only wildcard."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("%")), re.DOTALL)


def _predicate(clause: Clause, at: datetime, status_of: StatusOf) -> Predicate:
    get = _getter(clause.field, at, status_of)
    if clause.op == "like":
        pattern = like_pattern(str(clause.value))
        return lambda order: (value := get(order)) is not None and pattern.fullmatch(value) is not None
    compare, wanted = _COMPARE[clause.op], clause.value
    return lambda order: (value := get(order)) is not None and compare(value, wanted)


def _getter(field: str, at: datetime, status_of: StatusOf) -> Callable[[IvcapOrder], Any]:
    getters: dict[str, Callable[[IvcapOrder], Any]] = {
        "name": lambda order: order.name,
        "status": lambda order: status_of(order, at),
        "service": lambda order: order.service.id,
        "account": lambda order: order.account.id,
        "ordered_at": lambda order: order.ordered_at,
    }
    return getters[field]


def select_orders(
    store: IvcapStore, query: OrderQuery, at: datetime, status_of: StatusOf
) -> list[IvcapOrder]:
    """The orders placed by ``at`` that pass every clause, in the query's order."""
    rows, times = store.ordered_by_time()
    rows = rows[: bisect_right(times, at)]
    predicates = [_predicate(clause, at, status_of) for clause in query.clauses]
    if predicates:
        rows = [order for order in rows if all(p(order) for p in predicates)]
    ordering = query.ordering
    if len(ordering) == 1 and ordering[0][0] == "ordered_at":
        return rows[::-1] if ordering[0][1] else rows  # already by (ordered-at, id)
    rows = sorted(rows, key=lambda order: order.id, reverse=ordering[0][1])
    for field, descending in reversed(ordering):  # stable sorts, last term first
        get = _getter(field, at, status_of)
        rows.sort(key=lambda order: get(order) or "", reverse=descending)
    return rows


class OrderSelection:
    """`select_orders` with the last few answers cached (key: store version, query, time)."""

    def __init__(self, store: IvcapStore, status_of: StatusOf, *, size: int = 32) -> None:
        self._store = store
        self._status_of = status_of
        self._size = size
        self._cache: OrderedDict[tuple[int, OrderQuery, datetime], Sequence[IvcapOrder]] = OrderedDict()

    def select(self, query: OrderQuery, at: datetime) -> Sequence[IvcapOrder]:
        key = (self._store.version, query, at)
        found = self._cache.get(key)
        if found is None:
            found = select_orders(self._store, query, at, self._status_of)
            self._cache[key] = found
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return found


def encode_token(payload: Mapping[str, Any]) -> str:
    """An opaque, URL-safe page token: base64url of JSON, ``=`` padding stripped (§5)."""
    return base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode("ascii")


def decode_token(token: str) -> dict[str, Any] | None:
    """The payload of a token made by `encode_token`, or None for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = orjson.loads(raw)
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        return None
    return payload if isinstance(payload, dict) else None
