"""The IVCAP wire functions of both dialects, without a network (ivcap.md §2–7, §9)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from gateway.adapters.base import ListRequest
from gateway.adapters.ivcap import wire_current, wire_legacy
from gateway.adapters.ivcap.wire_common import IvcapContext, classify_error, normalise_order_urn
from gateway.errors import (
    OrderNotFoundError,
    UpstreamAuthError,
    UpstreamBadResponseError,
    UpstreamError,
)
from gateway.models import Item, Status
from gateway.query import Filters, SortKey
from tests.adapters.ivcap_samples import (
    ACCOUNT,
    ARTIFACT,
    BASE,
    NEXT_TOKEN,
    ORDER,
    ORIGIN,
    SERVICE,
    legacy_order,
    legacy_page,
    legacy_row,
    list_item,
    list_page,
    order_status,
)

CTX = IvcapContext(
    instance="ivcap",
    upstream_origin=ORIGIN,
    public_url="https://ivcap.example.org/1/",
    gateway_url="https://gw.example.org",
)
JAN = datetime(2025, 1, 1, tzinfo=UTC)
FEB = datetime(2025, 2, 1, 12, 30, 0, 250000, tzinfo=UTC)


def request(sort: SortKey = SortKey.CREATED_DESC, position: str | None = None, **filters: Any) -> ListRequest:
    return ListRequest(filters=Filters(**filters), sort=sort, page_size=50, position=position)


def dump(body: Any) -> bytes:
    return orjson.dumps(body)


# --- list parameters ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "desc"),
    [
        (SortKey.CREATED_DESC, "true"),
        (SortKey.CREATED_ASC, "false"),
        (SortKey.UPDATED_ASC, "true"),  # not native: the default order
        (SortKey.UPDATED_DESC, "true"),
    ],
)
def test_current_params_map_sorts_to_ordered_at(sort: SortKey, desc: str) -> None:
    assert wire_current.list_params(request(sort)) == [
        ("limit", "50"),
        ("order-by", "ordered-at"),
        ("order-desc", desc),
    ]


def test_current_params_push_the_four_filters_into_one_expression() -> None:
    params = wire_current.list_params(
        request(
            created_after=JAN, created_before=FEB, customer=ACCOUNT, service=SERVICE.replace("3c1e", "3C1E")
        )
    )
    assert params is not None
    assert dict(params)["filter"] == (
        "ordered-at ge '2025-01-01T00:00:00Z' and ordered-at lt '2025-02-01T12:30:00.250000Z'"
        f" and account eq '{ACCOUNT}' and service eq '{SERVICE}'"
    )


def test_current_params_with_a_position_send_only_the_token_and_limit() -> None:
    params = wire_current.list_params(request(SortKey.CREATED_ASC, position="tok_1-x", customer=ACCOUNT))
    assert params == [("limit", "50"), ("page", "tok_1-x")]


@pytest.mark.parametrize(
    "filters",
    [
        {"customer": "not-a-urn"},
        {"customer": SERVICE},  # a URN of the wrong kind
        {"service": ACCOUNT},
        {"service": "urn:ivcap:service:123"},
        {"service": f"{SERVICE}' or name ne '"},  # no way to smuggle a clause in
    ],
)
@pytest.mark.parametrize("wire", [wire_current, wire_legacy])
def test_filters_no_ivcap_order_can_match_need_no_call(wire: Any, filters: dict[str, Any]) -> None:
    assert wire.list_params(request(**filters)) is None


def test_legacy_params_use_dollar_names_and_snake_case_fields() -> None:
    params = wire_legacy.list_params(request(SortKey.CREATED_ASC, created_after=JAN, service=SERVICE))
    assert params == [
        ("limit", "50"),
        ("$filter", f"ordered_at ge '2025-01-01T00:00:00Z' and service_id eq '{SERVICE}'"),
        ("$orderby", "ordered_at asc"),
    ]
    assert (
        dict(wire_legacy.list_params(request(customer=ACCOUNT)) or [])["$filter"]
        == f"account_id eq '{ACCOUNT}'"
    )
    assert ("$orderby", "ordered_at desc") in (wire_legacy.list_params(request(SortKey.UPDATED_DESC)) or [])


def test_legacy_params_with_a_position_send_only_the_token_and_limit() -> None:
    assert wire_legacy.list_params(request(position="abc", created_after=JAN)) == [
        ("pageToken", "abc"),
        ("limit", "50"),
    ]


# --- mapping, current dialect -------------------------------------------------------------


def test_read_maps_every_normalised_field() -> None:
    order = wire_current.parse_order(CTX, 200, dump(order_status()))
    assert order.id == f"ivcap:{ORDER}" and order.native_id == ORDER
    assert order.provider == "ivcap" and order.provider_kind == "ivcap"
    assert order.name == "Fire risk for Lot 2"
    assert order.status is Status.COMPLETED and order.provider_status == "succeeded"
    assert order.created_at == datetime(2025, 1, 2, 3, 0, tzinfo=UTC)
    assert order.updated_at == order.completed_at == datetime(2025, 1, 2, 3, 9, tzinfo=UTC)
    assert order.customer is not None and (order.customer.id, order.customer.name) == (ACCOUNT, None)
    assert order.service is not None and (order.service.id, order.service.name) == (SERVICE, None)
    assert order.items == (
        Item(id=ARTIFACT, name="fire risk map", quantity=None, status=None, unit_price=None),
    )
    assert order.total is None and order.actions == ()
    assert order.links.self == f"https://gw.example.org/orders/ivcap:{ORDER}"
    assert order.links.upstream == (
        "https://ivcap.example.org/1/orders/urn%3Aivcap%3Aorder%3A3c1e0000-0000-4000-8000-000000000001"
    )
    assert order.extra == {
        "parameters": [{"name": "region", "value": "Upper Valley"}, {"name": "threshold", "value": "10"}],
        "tags": ["demo"],
    }


def test_list_page_maps_rows_and_takes_the_page_token_of_the_next_link() -> None:
    chunk = wire_current.parse_list(CTX, 200, {}, dump(list_page()))
    assert chunk.next_position == NEXT_TOKEN
    (order,) = chunk.orders
    assert order.status is Status.IN_PROGRESS and order.provider_status == "executing"
    assert order.updated_at == datetime(2025, 1, 2, 3, 1, tzinfo=UTC)
    assert order.completed_at is None and order.items == () and order.extra == {}


def test_last_page_has_no_position() -> None:
    assert wire_current.parse_list(CTX, 200, {}, dump(list_page(next_token=None))).next_position is None


def test_a_terminal_status_without_finished_at_has_no_completed_at_and_a_running_one_never() -> None:
    failed = wire_current.parse_order(CTX, 200, dump(order_status(status="error", **{"finished-at": None})))
    assert failed.status is Status.FAILED and failed.completed_at is None
    running = wire_current.parse_list(
        CTX, 200, {}, dump(list_page(list_item(**{"finished-at": "2025-01-03T00:00:00Z"})))
    )
    assert running.orders[0].completed_at is None  # executing is not terminal
    assert running.orders[0].updated_at == datetime(2025, 1, 3, tzinfo=UTC)


def test_nameless_order_and_an_other_offset_are_read() -> None:
    body = list_item(name=None, **{"ordered-at": "2025-01-02T03:00:00-08:00", "started-at": None})
    (order,) = wire_current.parse_list(CTX, 200, {}, dump(list_page(body))).orders
    assert order.name is None
    assert order.created_at == order.updated_at == datetime(2025, 1, 2, 11, 0, tzinfo=UTC)


def test_unknown_status_is_kept_with_the_fallback() -> None:
    (order,) = wire_current.parse_list(CTX, 200, {}, dump(list_page(list_item(status="quarantined")))).orders
    assert order.provider_status == "quarantined" and order.status is Status.IN_PROGRESS


def test_upstream_addresses_never_reach_the_order() -> None:
    body = order_status(
        hint=f"{ORIGIN}/1/internal/debug",
        nested={"keep": "x", "href": "https://elsewhere/", "deep": [f"{ORIGIN}/1/a", "fine"]},
        **{"data-href": "https://cdn.example.org/blob"},
    )
    order = wire_current.parse_order(CTX, 200, dump(body))
    assert "127.0.0.1" not in order.model_dump_json()
    assert "data-href" not in order.extra and "hint" not in order.extra
    assert order.extra["nested"] == {"keep": "x", "deep": ["fine"]}


def test_no_public_url_means_no_upstream_link_and_relative_self() -> None:
    ctx = IvcapContext("iv", ORIGIN, None, "")
    order = wire_current.parse_order(ctx, 200, dump(order_status()))
    assert order.links.upstream is None and order.links.self == f"/orders/iv:{ORDER}"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        {"at-time": "2025-01-02T03:04:05Z", "orders": [list_item()], "links": []},  # legacy key
        list_page() | {"links": {"next": "x"}},  # links as an object
        {k: v for k, v in list_page().items() if k != "at-time"},
        list_page(list_item(**{"ordered-at": None})),  # unusable without a time
        list_page(list_item(**{"ordered-at": "yesterday"})),
        list_page(list_item(**{"ordered-at": 1735786800})),  # no coercion of numbers
        list_page(list_item(id="urn:ivcap:service:3c1e0000-0000-4000-8000-000000000002")),
        list_page(list_item(account=None)),
        list_page(list_item(status=7)),
        {
            "at-time": "2025-01-02T03:04:05Z",
            "items": [],
            "links": [{"rel": "next", "href": f"{BASE}orders?limit=5"}],
        },
    ],
)
def test_garbage_lists_are_bad_responses(body: Any) -> None:
    content = body if isinstance(body, bytes) else dump(body)
    with pytest.raises(UpstreamBadResponseError) as info:
        wire_current.parse_list(CTX, 200, {}, content)
    assert info.value.provider == "ivcap" and info.value.upstream_status == 200


@pytest.mark.parametrize(
    "body",
    [
        order_status(products=[]),  # a bare list: the legacy shape
        order_status(parameters=None),
        order_status(links=None),
        order_status(products={"items": [{"id": ARTIFACT}], "links": []}),  # product without status
        order_status(**{"ordered-at": "2025-13-01T00:00:00Z"}),
    ],
)
def test_garbage_reads_are_bad_responses(body: Any) -> None:
    with pytest.raises(UpstreamBadResponseError):
        wire_current.parse_order(CTX, 200, dump(body))


@pytest.mark.parametrize("wire", [wire_current, wire_legacy])
def test_a_read_404_is_order_not_found(wire: Any) -> None:
    with pytest.raises(OrderNotFoundError):
        wire.parse_order(CTX, 404, b'{"id": "urn:ivcap:order:x", "message": "not found at 10.0.0.7"}')


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, UpstreamError),
        (401, UpstreamAuthError),
        (403, UpstreamAuthError),
        (404, UpstreamError),
        (422, UpstreamError),
        (429, UpstreamError),
        (500, UpstreamBadResponseError),
        (501, UpstreamError),
        (502, UpstreamBadResponseError),
        (503, UpstreamBadResponseError),
    ],
)
def test_classify_error_table(status: int, error: type[UpstreamError]) -> None:
    classified = classify_error("ivcap", status, b'{"message": "jwt expired; db at 10.0.0.7"}')
    assert type(classified) is error
    assert classified.upstream_status == status and classified.provider == "ivcap"
    assert "10.0.0.7" not in classified.detail and "jwt" not in classified.detail


@pytest.mark.parametrize("wire", [wire_current, wire_legacy])
@pytest.mark.parametrize("status", [401, 422, 503])
def test_list_errors_go_through_the_table(wire: Any, status: int) -> None:
    with pytest.raises(UpstreamError) as info:
        wire.parse_list(CTX, status, {}, b"")
    assert type(info.value) is type(classify_error("ivcap", status, b""))


# --- mapping, legacy dialect -------------------------------------------------------------


def test_legacy_read_maps_object_refs_and_the_product_array() -> None:
    order = wire_legacy.parse_order(CTX, 200, dump(legacy_order()))
    assert (
        order.native_id == ORDER and order.status is Status.COMPLETED and order.provider_status == "finished"
    )
    assert order.customer is not None and order.customer.id == ACCOUNT
    assert order.service is not None and order.service.id == SERVICE
    assert order.completed_at == order.updated_at == datetime(2025, 1, 2, 3, 9, tzinfo=UTC)
    assert [(i.id, i.name) for i in order.items] == [(ARTIFACT, "fire risk map")]
    assert set(order.extra) == {"parameters", "metadata"}
    assert "127.0.0.1" not in order.model_dump_json()


def test_legacy_list_maps_snake_case_rows_and_the_page_token() -> None:
    chunk = wire_legacy.parse_list(CTX, 200, {}, dump(legacy_page()))
    assert chunk.next_position == "eyJuIjoxfQ"
    (order,) = chunk.orders
    assert order.status is Status.IN_PROGRESS and order.completed_at is None
    assert order.customer is not None and order.customer.id == ACCOUNT
    assert (
        order.created_at == datetime(2025, 1, 2, 3, 0, tzinfo=UTC) and order.items == () and order.extra == {}
    )
    # the same order read through either dialect is the same normalised order
    current = wire_current.parse_list(CTX, 200, {}, dump(list_page())).orders[0]
    assert order == current


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("pending", Status.PENDING),
        ("executing", Status.IN_PROGRESS),
        ("finished", Status.COMPLETED),
        ("error", Status.FAILED),
        ("succeeded", Status.IN_PROGRESS),
    ],
)
def test_legacy_statuses_use_the_legacy_table(state: str, status: Status) -> None:
    (order,) = wire_legacy.parse_list(CTX, 200, {}, dump(legacy_page(legacy_row(status=state)))).orders
    assert order.status is status and order.provider_status == state


def test_legacy_last_page_has_a_null_or_no_next() -> None:
    assert wire_legacy.parse_list(CTX, 200, {}, dump(legacy_page(next_token=None))).next_position is None
    body = legacy_page()
    body["links"] = {"self": "x"}
    assert wire_legacy.parse_list(CTX, 200, {}, dump(body)).next_position is None


@pytest.mark.parametrize(
    "body",
    [
        list_page(),  # the current shape
        legacy_page(legacy_row(ordered_at=None)),
        legacy_page(legacy_row(id="42")),
        {"links": {"next": f"{BASE}orders?page=abc"}, "orders": []},  # next without pageToken
        {"links": [], "orders": []},
    ],
)
def test_legacy_garbage_lists_are_bad_responses(body: Any) -> None:
    with pytest.raises(UpstreamBadResponseError):
        wire_legacy.parse_list(CTX, 200, {}, dump(body))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (ORDER, ORDER),
        ("urn:ivcap:order:3C1E0000-0000-4000-8000-000000000001", ORDER),
        (SERVICE, None),
        ("urn:ivcap:order:3c1e0000", None),
        ("urn:ivcap:order:../../etc/passwd", None),
        (f"{ORDER}/products", None),
        ("3c1e0000-0000-4000-8000-000000000001", None),
        ("", None),
    ],
)
def test_native_ids_are_order_urns_or_refused(given: str, expected: str | None) -> None:
    assert normalise_order_urn(given) == expected
