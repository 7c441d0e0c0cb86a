"""GET /orders parameters: validation and the canonical fingerprint (API.md §5)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.errors import InvalidQueryError
from gateway.models import Status
from gateway.query import DEFAULT_LIMIT, SortKey, parse_order_query, parse_query_string


def parse(raw: bytes):  # type: ignore[no-untyped-def]
    return parse_order_query(parse_query_string(raw))


def test_defaults() -> None:
    query = parse(b"")
    assert query.limit == DEFAULT_LIMIT and query.sort is SortKey.CREATED_DESC
    assert query.cursor is None and not query.require_all and query.filters.names() == ()


def test_every_parameter_is_understood() -> None:
    query = parse(
        b"provider=a,b&provider=c&status=pending&status=failed,completed&provider_status=done"
        b"&customer=c1&service=s1&created_after=2025-01-01T00:00:00Z&created_before=2025-02-01T00:00:00%2B01:00"
        b"&updated_after=2025-01-05T00:00:00Z&q=vm&sort=-updated_at&limit=200&require=all"
    )
    assert query.providers == {"a", "b", "c"}
    assert query.filters.statuses == {Status.PENDING, Status.FAILED, Status.COMPLETED}
    assert query.filters.provider_statuses == {"done"}
    assert query.filters.created_before == datetime(2025, 1, 31, 23, 0, tzinfo=UTC)
    assert query.sort is SortKey.UPDATED_DESC and query.limit == 200 and query.require_all
    assert query.filters.names() == (
        "status", "provider_status", "customer", "service", "created_after", "created_before", "updated_after", "q",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "parameter"),
    [
        (b"colour=red", "colour"),
        (b"limit=0", "limit"),
        (b"limit=201", "limit"),
        (b"limit=99999999999999999999999999", "limit"),
        (b"limit=%C2%B2", "limit"),
        (b"limit=-1", "limit"),
        (b"limit=5&limit=6", "limit"),
        (b"status=done", "status"),
        (b"status=", "status"),
        (b"status=pending,,failed", "status"),
        (b"sort=name", "sort"),
        (b"created_after=yesterday", "created_after"),
        (b"created_after=2025-01-01T00:00:00", "created_after"),
        (b"created_after=2025-02-01T00:00:00Z&created_before=2025-01-01T00:00:00Z", "created_after"),
        (b"customer=", "customer"),
        (b"q=" + b"x" * 201, "q"),
        (b"q=a%0Ab", "q"),
        (b"require=some", "require"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(raw: bytes, parameter: str) -> None:
    with pytest.raises(InvalidQueryError) as info:
        parse(raw)
    assert info.value.status_code == 400
    assert info.value.parameter == parameter
    assert parameter in info.value.detail


@pytest.mark.parametrize("raw", [b"q=%ff%fe", b"q=\xff", b"%ff=1"])
def test_query_strings_that_are_not_utf8_are_400(raw: bytes) -> None:
    with pytest.raises(InvalidQueryError):
        parse(raw)


def test_fingerprint_ignores_paging_and_order_of_values() -> None:
    a = parse(b"status=pending,failed&provider=x,y&limit=5")
    b = parse(b"provider=y&provider=x&status=failed&status=pending&limit=9&cursor=abc")
    assert a.fingerprint == b.fingerprint


@pytest.mark.parametrize("other", [b"status=pending", b"sort=created_at", b"q=vm", b"provider=x"])
def test_fingerprint_changes_with_what_selects_or_orders(other: bytes) -> None:
    assert parse(b"").fingerprint != parse(other).fingerprint
