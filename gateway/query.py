"""Parsing and validating ``GET /orders`` parameters into a frozen OrderQuery (API.md §5)."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import orjson

from gateway.errors import InvalidQueryError
from gateway.models import Status


class SortKey(enum.StrEnum):
    """The orders a list can come in; ties always break on the order id."""

    CREATED_ASC = "created_at"
    CREATED_DESC = "-created_at"
    UPDATED_ASC = "updated_at"
    UPDATED_DESC = "-updated_at"

    @property
    def field(self) -> str:
        return self.value.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")


DEFAULT_SORT = SortKey.CREATED_DESC
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_TEXT_LENGTH = 200
MAX_VALUES_PER_PARAMETER = 50

REPEATABLE = frozenset({"provider", "status", "provider_status"})
SINGLE = frozenset(
    {
        "customer",
        "service",
        "created_after",
        "created_before",
        "updated_after",
        "q",
        "sort",
        "limit",
        "cursor",
        "require",
    }
)
PARAMETERS = REPEATABLE | SINGLE


@dataclass(frozen=True, slots=True)
class Filters:
    """The filters of a list query; every set is empty and every bound None when not asked."""

    statuses: frozenset[Status] = frozenset()
    provider_statuses: frozenset[str] = frozenset()
    customer: str | None = None
    service: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    q: str | None = None

    def names(self) -> tuple[str, ...]:
        """The filter names in use, in a stable order (for provider reports and planning)."""
        used = []
        if self.statuses:
            used.append("status")
        if self.provider_statuses:
            used.append("provider_status")
        for name in (
            "customer",
            "service",
            "created_after",
            "created_before",
            "updated_after",
            "q",
        ):
            if getattr(self, name) is not None:
                used.append(name)
        return tuple(used)


@dataclass(frozen=True, slots=True)
class OrderQuery:
    """A validated ``GET /orders`` request; ``fingerprint`` identifies it apart from paging."""

    providers: frozenset[str]
    filters: Filters
    sort: SortKey
    limit: int
    cursor: str | None
    require_all: bool

    @property
    def fingerprint(self) -> str:
        return query_fingerprint(self)


def parse_query_string(raw: bytes) -> list[tuple[str, str]]:
    """Decode a raw query string strictly: invalid percent-encoded UTF-8 is a 400, not mojibake."""
    try:
        text = raw.decode("ascii")
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidQueryError("The query string is not valid UTF-8.") from exc


def parse_order_query(pairs: list[tuple[str, str]]) -> OrderQuery:
    """Validate list parameters; unknown names and bad values raise InvalidQueryError."""
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        if name not in PARAMETERS:
            raise InvalidQueryError(f"Unknown query parameter '{_shorten(name)}'.", parameter=_shorten(name))
        values.setdefault(name, []).append(value)
    for name, given in values.items():
        if name in SINGLE and len(given) > 1:
            raise InvalidQueryError(f"'{name}' may be given only once.", parameter=name)

    def one(name: str) -> str | None:
        given = values.get(name)
        if not given:
            return None
        if given[0] == "":
            raise InvalidQueryError(f"'{name}' must not be empty.", parameter=name)
        return given[0]

    filters = Filters(
        statuses=frozenset(_parse_status(v) for v in _many(values, "status")),
        provider_statuses=frozenset(_many(values, "provider_status")),
        customer=_text(one("customer"), "customer"),
        service=_text(one("service"), "service"),
        created_after=_timestamp(one("created_after"), "created_after"),
        created_before=_timestamp(one("created_before"), "created_before"),
        updated_after=_timestamp(one("updated_after"), "updated_after"),
        q=_text(one("q"), "q"),
    )
    if filters.created_after and filters.created_before and filters.created_after > filters.created_before:
        raise InvalidQueryError("'created_after' is later than 'created_before'.", parameter="created_after")
    return OrderQuery(
        providers=frozenset(_many(values, "provider")),
        filters=filters,
        sort=_sort(one("sort")),
        limit=_limit(one("limit")),
        cursor=one("cursor"),
        require_all=_require(one("require")),
    )


def query_fingerprint(query: OrderQuery) -> str:
    """A stable digest of everything that selects and orders the results (not limit, not cursor)."""
    f = query.filters
    canonical = {
        "providers": sorted(query.providers),
        "status": sorted(f.statuses),
        "provider_status": sorted(f.provider_statuses),
        "customer": f.customer,
        "service": f.service,
        "created_after": f.created_after.isoformat() if f.created_after else None,
        "created_before": f.created_before.isoformat() if f.created_before else None,
        "updated_after": f.updated_after.isoformat() if f.updated_after else None,
        "q": f.q,
        "sort": query.sort.value,
    }
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def _many(values: dict[str, list[str]], name: str) -> list[str]:
    """Repeatable parameters also take comma lists: ``status=a,b`` equals ``status=a&status=b``."""
    items = [part.strip() for value in values.get(name, []) for part in value.split(",")]
    if any(not item for item in items):
        raise InvalidQueryError(f"'{name}' has an empty value.", parameter=name)
    if len(items) > MAX_VALUES_PER_PARAMETER:
        raise InvalidQueryError(f"'{name}' has more than {MAX_VALUES_PER_PARAMETER} values.", parameter=name)
    for item in items:
        _text(item, name)
    return items


def _parse_status(value: str) -> Status:
    try:
        return Status(value)
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise InvalidQueryError(
            f"'status' value '{_shorten(value)}' is not one of: {allowed}.", parameter="status"
        ) from None


def _text(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidQueryError(f"'{name}' is longer than {MAX_TEXT_LENGTH} characters.", parameter=name)
    if any(ord(ch) < 32 for ch in value):
        raise InvalidQueryError(f"'{name}' contains control characters.", parameter=name)
    return value


def _timestamp(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidQueryError(
            f"'{name}' must be an RFC 3339 timestamp such as 2025-01-31T00:00:00Z.", parameter=name
        ) from None
    if parsed.tzinfo is None:
        raise InvalidQueryError(f"'{name}' must carry a UTC offset or 'Z'.", parameter=name)
    return parsed.astimezone(UTC)


def _sort(value: str | None) -> SortKey:
    if value is None:
        return DEFAULT_SORT
    try:
        return SortKey(value)
    except ValueError:
        allowed = ", ".join(k.value for k in SortKey)
        raise InvalidQueryError(f"'sort' must be one of: {allowed}.", parameter="sort") from None


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not (value.isascii() and value.isdigit() and len(value) <= 3) or not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidQueryError(f"'limit' must be an integer from 1 to {MAX_LIMIT}.", parameter="limit")
    return int(value)


def _require(value: str | None) -> bool:
    if value is None or value == "any":
        return False
    if value == "all":
        return True
    raise InvalidQueryError("'require' must be 'any' or 'all'.", parameter="require")


def _shorten(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."
