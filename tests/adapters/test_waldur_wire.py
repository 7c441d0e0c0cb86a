"""The Waldur wire functions, without a network (waldur.md §2–7)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from gateway.adapters.base import ListRequest
from gateway.adapters.waldur.wire import (
    WaldurContext,
    classify_error,
    list_params,
    next_page,
    normalise_native_id,
    parse_list,
    parse_order,
)
from gateway.errors import (
    OrderNotFoundError,
    UpstreamAuthError,
    UpstreamBadResponseError,
    UpstreamError,
)
from gateway.models import Status, decimal_text
from gateway.query import Filters, SortKey
from tests.adapters.samples import BASE, waldur_order

CTX = WaldurContext(
    instance="waldur-eu",
    currency="EUR",
    upstream_origin="http://10.1.2.3:9001",
    public_url="https://waldur.example.org/api/",
    gateway_url="https://gw.example.org",
)


def request(**filters: object) -> ListRequest:
    return ListRequest(filters=Filters(**filters), sort=SortKey.CREATED_DESC, page_size=50)  # type: ignore[arg-type]


def test_order_maps_every_normalised_field() -> None:
    order = parse_order(CTX, 200, orjson.dumps(waldur_order()))
    assert order.id == "waldur-eu:0b9f3c1e6d2a4f5b8c7d9e0f1a2b3c4d"
    assert order.provider == "waldur-eu" and order.provider_kind == "waldur"
    assert order.name == "vm-1"
    assert order.status is Status.PENDING and order.provider_status == "pending-consumer"
    assert order.created_at == datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert order.updated_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert order.completed_at is None
    assert order.customer is not None and order.customer.name == "University A"
    assert order.service is not None and order.service.id == "5f1c2a3b000040008000000000000001"
    assert [(i.name, i.quantity) for i in order.items] == [("cpu", 2), ("ram", 4096)]
    assert order.total is not None and (order.total.amount, order.total.currency) == ("12.34", "EUR")
    assert order.links.self == "https://gw.example.org/orders/waldur-eu:0b9f3c1e6d2a4f5b8c7d9e0f1a2b3c4d"
    assert (
        order.links.upstream
        == "https://waldur.example.org/api/marketplace-orders/0b9f3c1e6d2a4f5b8c7d9e0f1a2b3c4d/"
    )
    assert order.extra["project_name"] == "Genomics" and order.extra["type"] == "Create"


def test_internal_hyperlinks_and_tracebacks_never_reach_the_order() -> None:
    order = parse_order(CTX, 200, orjson.dumps(waldur_order(state="erred")))
    text = order.model_dump_json()
    assert "10.1.2.3" not in text
    assert "Traceback" not in text
    assert "attachment" not in order.extra


def test_terminal_state_without_completed_at_uses_the_last_change() -> None:
    order = parse_order(CTX, 200, orjson.dumps(waldur_order(state="rejected")))
    assert order.completed_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_done_order_keeps_its_own_completed_at() -> None:
    body = waldur_order(state="done", completed_at="2025-02-01T00:00:00Z")
    order = parse_order(CTX, 200, orjson.dumps(body))
    assert order.status is Status.COMPLETED
    assert order.completed_at == datetime(2025, 2, 1, tzinfo=UTC)


def test_order_without_limits_has_one_item_for_its_plan() -> None:
    order = parse_order(CTX, 200, orjson.dumps(waldur_order(limits={})))
    assert [(i.id, i.name, i.quantity) for i in order.items] == [
        ("5f1c2a3b000040008000000000000004", "Monthly", 1)
    ]


def test_unknown_state_is_kept_with_the_fallback_status() -> None:
    order = parse_order(CTX, 200, orjson.dumps(waldur_order(state="pending-audit")))
    assert order.provider_status == "pending-audit" and order.status is Status.PENDING


def test_name_falls_back_to_the_resource_name() -> None:
    order = parse_order(CTX, 200, orjson.dumps(waldur_order(attributes={}, resource_name="res-7")))
    assert order.name == "res-7"


def test_no_public_url_means_no_upstream_link() -> None:
    ctx = WaldurContext("w", "EUR", "http://10.1.2.3:9001", None, "")
    order = parse_order(ctx, 200, orjson.dumps(waldur_order()))
    assert order.links.upstream is None
    assert order.links.self == "/orders/w:0b9f3c1e6d2a4f5b8c7d9e0f1a2b3c4d"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12.3400000000", "12.34"), ("0E-10", "0.00"), ("100", "100.00"), ("1.23456", "1.23456")],
)
def test_costs_are_plain_decimal_text(text: str, expected: str) -> None:
    from decimal import Decimal

    assert decimal_text(Decimal(text)) == expected


def test_list_params_push_filters_down_in_waldurs_names() -> None:
    params = list_params(
        request(
            statuses=frozenset({Status.PENDING}),
            customer="5F1C2A3B-0000-4000-8000-000000000003",
            created_after=datetime(2025, 1, 1, tzinfo=UTC),
            created_before=datetime(2025, 2, 1, tzinfo=UTC),
            updated_after=datetime(2025, 1, 15, tzinfo=UTC),
        )
    )
    assert params is not None
    assert ("page_size", "50") in params and ("o", "-created") in params
    assert [v for k, v in params if k == "state"] == sorted(
        ["pending-consumer", "pending-provider", "pending-project", "pending-start-date"]
    )
    assert ("customer_uuid", "5f1c2a3b000040008000000000000003") in params
    assert ("created", "2025-01-01T00:00:00+00:00") in params
    # our created_before is exclusive; Waldur's is inclusive: one microsecond less
    assert ("created_before", "2025-01-31T23:59:59.999999+00:00") in params
    assert ("modified", "2025-01-15T00:00:00+00:00") in params


def test_list_params_ascending_and_page_position() -> None:
    req = ListRequest(filters=Filters(), sort=SortKey.CREATED_ASC, page_size=100, position="3")
    assert list_params(req) == [("page_size", "100"), ("page", "3"), ("o", "created")]


@pytest.mark.parametrize(
    "filters",
    [
        {"customer": "not-a-uuid"},
        {"service": "x"},
        {"provider_statuses": frozenset({"no-such-state"})},
        {"statuses": frozenset({Status.COMPLETED}), "provider_statuses": frozenset({"executing"})},
    ],
)
def test_filters_no_waldur_order_can_match_need_no_call(filters: dict[str, object]) -> None:
    assert list_params(request(**filters)) is None


def test_provider_status_and_status_intersect() -> None:
    params = list_params(
        request(
            statuses=frozenset({Status.PENDING}), provider_statuses=frozenset({"pending-provider", "done"})
        )
    )
    assert params is not None and [v for k, v in params if k == "state"] == ["pending-provider"]


def test_next_page_takes_only_the_page_of_the_next_link() -> None:
    header = (
        f'<{BASE}marketplace-orders/?page_size=2>; rel="first", '
        f'<{BASE}marketplace-orders/?page=3&page_size=2>; rel="next", '
        f'<{BASE}marketplace-orders/?page=9&page_size=2>; rel="last"'
    )
    assert next_page(header) == "3"
    assert next_page(f'<{BASE}marketplace-orders/?page_size=2>; rel="first"') is None
    assert next_page(None) is None


def test_parse_list_reads_the_bare_array_and_next_page() -> None:
    body = orjson.dumps([waldur_order(), waldur_order(uuid="1" * 32)])
    chunk = parse_list(CTX, 200, {"link": f'<{BASE}marketplace-orders/?page=2>; rel="next"'}, body)
    assert [o.native_id for o in chunk.orders] == ["0b9f3c1e6d2a4f5b8c7d9e0f1a2b3c4d", "1" * 32]
    assert chunk.next_position == "2"


def test_a_vanished_page_ends_the_listing() -> None:
    chunk = parse_list(CTX, 404, {}, b'{"detail": "Invalid page."}')
    assert chunk.orders == () and chunk.next_position is None


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"detail": "x"}',
        orjson.dumps([{"uuid": "x"}]),
        orjson.dumps([waldur_order(created=None)]),
    ],
)
def test_garbage_lists_are_bad_responses(body: bytes) -> None:
    with pytest.raises(UpstreamBadResponseError) as info:
        parse_list(CTX, 200, {}, body)
    assert info.value.provider == "waldur-eu"


def test_retrieve_404_is_order_not_found() -> None:
    with pytest.raises(OrderNotFoundError):
        parse_order(CTX, 404, b'{"detail": "No Order matches the given query."}')


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, UpstreamAuthError),
        (403, UpstreamAuthError),
        (500, UpstreamBadResponseError),
        (503, UpstreamBadResponseError),
        (400, UpstreamError),
        (429, UpstreamError),
    ],
)
def test_classify_error_table(status: int, error: type[UpstreamError]) -> None:
    classified = classify_error("w", status, b'{"detail": "Invalid token. db-host=10.0.0.7"}')
    assert type(classified) is error
    assert classified.upstream_status == status
    assert "10.0.0.7" not in classified.detail


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("0b9f3c1e6d2a4f5b8c7d9e0f1a2b3c4d", "0b9f3c1e6d2a4f5b8c7d9e0f1a2b3c4d"),
        ("0B9F3C1E-6D2A-4F5B-8C7D-9E0F1A2B3C4D", "0b9f3c1e6d2a4f5b8c7d9e0f1a2b3c4d"),
        ("../../etc/passwd", None),
        ("0b9f3c1e", None),
        ("", None),
    ],
)
def test_native_ids_are_normalised_or_refused(given: str, expected: str | None) -> None:
    assert normalise_native_id(given) == expected
