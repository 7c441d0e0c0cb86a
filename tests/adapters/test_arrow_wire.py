"""The Arrow wire functions, without a network (arrow.md §2–8)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from gateway.adapters.arrow import ARROW_CAPABILITIES
from gateway.adapters.arrow.wire import (
    ArrowContext,
    classify_error,
    is_native_id,
    list_params,
    parse_created,
    parse_list,
    parse_order,
)
from gateway.adapters.base import ListRequest
from gateway.errors import (
    OrderNotFoundError,
    UpstreamAuthError,
    UpstreamBadResponseError,
    UpstreamError,
)
from gateway.models import Item, Money, Ref, Status
from gateway.query import Filters, SortKey
from tests.adapters.arrow_samples import UPSTREAM, arrow_order, arrow_product, list_body, read_body
from tests.support.credentials import SIM_TOKEN

CTX = ArrowContext(
    instance="arrow-eu",
    zone=ZoneInfo("UTC"),
    upstream_origin=UPSTREAM,
    public_url="https://xsp.example.com/index.php/api/",
    gateway_url="https://gw.example.org",
)
PARIS = ArrowContext("arrow-fr", ZoneInfo("Europe/Paris"), UPSTREAM, None, "")


def read(order: dict[str, Any], ctx: ArrowContext = CTX) -> Any:
    return parse_order(ctx, 200, orjson.dumps(read_body(order)))


def request(sort: SortKey = SortKey.CREATED_DESC, **filters: Any) -> ListRequest:
    return ListRequest(filters=Filters(**filters), sort=sort, page_size=50)


# --- mapping ---------------------------------------------------------------------------


def test_order_maps_every_normalised_field() -> None:
    order = read(arrow_order())
    assert order.id == "arrow-eu:XSPO1001"
    assert (order.provider, order.provider_kind, order.native_id) == ("arrow-eu", "arrow", "XSPO1001")
    assert order.name == "PO-778"
    assert order.status is Status.IN_PROGRESS and order.provider_status == "In progress"
    assert order.created_at == datetime(2025, 1, 2, 3, 0, tzinfo=UTC)
    assert order.updated_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert order.completed_at is None
    assert order.customer == Ref(id="XSP12345", name=None)
    assert order.service == Ref(id="Microsoft", name="Microsoft Cloud Solution Provider (CSP)")
    assert order.items == (
        Item(
            id="SAAS||Microsoft||MS-0A-O365-BUSINESS||BD938F12",
            name="Microsoft 365 Business Standard",
            quantity=2,
            status=Status.PENDING,
            unit_price=Money(amount="11.00", currency="EUR"),
        ),
    )
    assert order.total == Money(amount="22.00", currency="EUR")
    # The `actions` object lists cancel and history: cancel, then the metadata writes.
    assert order.actions == (
        "cancel", "update_po", "contributor", "additionalInformation", "add_attachment", "delete_attachment",
    )  # fmt: skip
    assert order.links.self == "https://gw.example.org/orders/arrow-eu:XSPO1001"
    assert order.links.upstream == "https://xsp.example.com/index.php/api/orders/XSPO1001"
    assert set(order.extra) == {
        "order_reference", "createdBy", "createdByImpersonator", "partner", "endCustomerPONumber",
        "scheduledDate", "extraInformation", "organizationUnitRef", "customFields", "products",
    }  # fmt: skip
    assert order.extra["order_reference"] == "O_ARWS-V7-0001"
    assert order.extra["partner"]["contact"]["email"] == "ops@reseller.example"
    assert order.extra["products"][0]["subscription"] == {"reference": "XSPS7896"}


def test_terminal_status_completes_at_the_last_status_change() -> None:
    order = read(arrow_order(status="Fulfilled", dateStatus="2025-03-04 05:06:07"))
    assert order.status is Status.COMPLETED
    assert order.completed_at == order.updated_at == datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.mark.parametrize(("spelling", "status"), [("open", Status.PENDING), ("CANCELED", Status.CANCELLED)])
def test_status_keeps_its_spelling_and_maps_case_insensitively(spelling: str, status: Status) -> None:
    order = read(arrow_order(status=spelling))
    assert order.provider_status == spelling and order.status is status


def test_unknown_status_is_kept_with_the_fallback() -> None:
    order = read(arrow_order(status="Awaiting Vendor"))
    assert order.provider_status == "Awaiting Vendor" and order.status is Status.IN_PROGRESS
    assert order.completed_at is None


@pytest.mark.parametrize(
    ("wire", "utc"),
    [
        ("2025-01-02 03:00:00", datetime(2025, 1, 2, 2, 0, tzinfo=UTC)),  # CET, +01:00
        ("2025-07-01 12:00:00", datetime(2025, 7, 1, 10, 0, tzinfo=UTC)),  # CEST, +02:00
        ("2025-10-26 02:30:00", datetime(2025, 10, 26, 0, 30, tzinfo=UTC)),  # ambiguous: first
    ],
)
def test_zone_less_times_are_read_in_the_instance_timezone(wire: str, utc: datetime) -> None:
    order = read(arrow_order(dateCreation=wire, dateStatus=wire), PARIS)
    assert order.created_at == utc and order.updated_at == utc
    assert order.model_dump(mode="json")["created_at"].endswith("Z")


def test_tiered_prices_are_read_too() -> None:
    tiered = {
        "vendor": {"currency": "USD", "unit": 9.5, "exchangeRate": 1.08},
        "buy": {"currency": "GBP", "unit": 10.25, "exchangeRate": 0.86},
        "endCustomer": {"currency": "GBP", "unit": 14},
    }
    order = read(arrow_order(products=[arrow_product(prices=tiered)], commitmentAmountTotal=20.5))
    assert order.items[0].unit_price == Money(amount="10.25", currency="GBP")
    assert order.total == Money(amount="20.50", currency="GBP")


@pytest.mark.parametrize(
    "products",
    [
        [],
        [arrow_product(prices=None)],
        [arrow_product(), arrow_product(prices={"buy": 3, "currency": "USD"})],
        [arrow_product(prices={"buy": 3, "currency": "euro"})],
    ],
)
def test_total_needs_exactly_one_currency(products: list[dict[str, Any]]) -> None:
    assert read(arrow_order(products=products)).total is None


def test_no_commitment_amount_means_no_total() -> None:
    assert read(arrow_order(commitmentAmountTotal=None)).total is None


def test_amounts_are_exact_decimal_text() -> None:
    order = read(
        arrow_order(
            commitmentAmountTotal=9714.6, products=[arrow_product(prices={"buy": 0.1, "currency": "EUR"})]
        )
    )
    assert order.total == Money(amount="9714.60", currency="EUR")
    assert order.items[0].unit_price == Money(amount="0.10", currency="EUR")


@pytest.mark.parametrize("ponumber", [None, ""])
def test_no_po_number_means_no_name(ponumber: str | None) -> None:
    assert read(arrow_order(ponumber=ponumber)).name is None


def test_numeric_po_number_is_text() -> None:
    assert read(arrow_order(ponumber=123456)).name == "123456"


def test_order_without_products_has_no_service_and_no_items() -> None:
    order = read(arrow_order(products=[]))
    assert order.items == () and order.service is None


def test_customer_name_is_taken_when_the_upstream_sends_one() -> None:
    order = read(arrow_order(customer={"reference": "XSP1", "companyName": "Contoso Ltd"}))
    assert order.customer == Ref(id="XSP1", name="Contoso Ltd")


def test_product_without_status_or_program_still_maps() -> None:
    product = arrow_product(status=None, program=None)
    del product["programName"]
    order = read(arrow_order(products=[product]))
    assert order.items[0].status is None
    assert order.service == Ref(id="Microsoft", name="Microsoft")  # the vendor name


def test_upstream_hosts_paths_and_actions_never_reach_the_order() -> None:
    body = arrow_order(
        downloadUrl=f"{UPSTREAM}/index.php/api/orders/XSPO1001/pdf",
        notes=["see /api/customers/XSP12345", "/api/orders/XSPO1001", f"{UPSTREAM}/x"],
    )
    body["partner"]["contact"]["firstName"] = "/api/customers/XSP17727"  # as in the PHP fixture
    order = read(body)
    text = order.model_dump_json()
    assert "10.9.8.7" not in text
    assert '"/api/' not in text and '"api/' not in text
    assert "actions" not in order.extra and "downloadUrl" not in order.extra
    assert order.extra["notes"] == ["see /api/customers/XSP12345"]
    assert "link" not in order.extra["products"][0]["license"]


def test_no_public_url_means_no_upstream_link_and_a_relative_self() -> None:
    order = read(arrow_order(), PARIS)
    assert order.links.upstream is None
    assert order.links.self == "/orders/arrow-fr:XSPO1001"


# --- list parameters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "sort_by", "order_by"),
    [
        (SortKey.CREATED_ASC, "dateCreation", "asc"),
        (SortKey.CREATED_DESC, "dateCreation", "desc"),
        (SortKey.UPDATED_ASC, "dateStatus", "asc"),
        (SortKey.UPDATED_DESC, "dateStatus", "desc"),
    ],
)
def test_sort_by_names_the_field_and_order_by_the_direction(
    sort: SortKey, sort_by: str, order_by: str
) -> None:
    params = list_params(request(sort), zone=UTC)
    assert params is not None
    assert ("sortBy", sort_by) in params and ("orderBy", order_by) in params


def test_first_page_has_no_page_parameter_and_later_ones_do() -> None:
    assert list_params(request(), zone=UTC) == [
        ("per_page", "50"),
        ("sortBy", "dateCreation"),
        ("orderBy", "desc"),
    ]
    later = ListRequest(filters=Filters(), sort=SortKey.CREATED_ASC, page_size=500, position="3")
    params = list_params(later, zone=UTC)
    assert params is not None and ("page", "3") in params and ("per_page", "100") in params


@pytest.mark.parametrize(
    ("zone", "created_from", "updated_from"),
    [
        ("UTC", "2025-01-01", "2025-03-30"),
        ("Europe/Paris", "2025-01-02", "2025-03-31"),  # 00:30 and 01:15 the next day there
        ("America/New_York", "2025-01-01", "2025-03-30"),
    ],
)
def test_time_bounds_become_days_in_the_instance_timezone(
    zone: str, created_from: str, updated_from: str
) -> None:
    params = list_params(
        request(
            created_after=datetime(2025, 1, 1, 23, 30, tzinfo=UTC),
            updated_after=datetime(2025, 3, 30, 23, 15, tzinfo=UTC),
        ),
        zone=ZoneInfo(zone),
    )
    assert params is not None
    assert ("from", created_from) in params and ("lastUpdate", updated_from) in params


def test_filters_arrow_cannot_apply_are_never_sent() -> None:
    params = list_params(
        request(
            statuses=frozenset({Status.PENDING}),
            provider_statuses=frozenset({"Open"}),
            customer="XSP12345",
            service="Microsoft",
            created_before=datetime(2025, 1, 1, tzinfo=UTC),
            q="PO-1",
        ),
        zone=UTC,
    )
    assert params is not None and {name for name, _ in params} == {"per_page", "sortBy", "orderBy"}


def test_capabilities_declare_only_what_arrow_applies() -> None:
    caps = ARROW_CAPABILITIES
    assert caps.filters == caps.inexact_filters == frozenset({"created_after", "updated_after"})
    assert caps.sorts == frozenset(SortKey)
    assert (caps.max_page_size, caps.stable_paging, caps.can_create, caps.can_delete) == (
        100,
        False,
        True,
        False,
    )
    assert caps.actions == {
        "cancel", "validate", "resubmit", "archive", "rejectGraded", "update_po", "contributor",
        "additionalInformation", "add_attachment", "delete_attachment", "attachments", "history",
    }  # fmt: skip
    assert caps.read_actions == {"attachments", "history"} and caps.admin_actions == frozenset()


# --- list and read answers -------------------------------------------------------------


def test_parse_list_reads_orders_and_the_next_page_number() -> None:
    body = list_body([arrow_order(), arrow_order(reference="XSPO1002")], current_page=2, total_page=3)
    chunk = parse_list(CTX, 200, orjson.dumps(body))
    assert [o.native_id for o in chunk.orders] == ["XSPO1001", "XSPO1002"]
    assert chunk.next_position == "3"


@pytest.mark.parametrize(("current", "total"), [(3, 3), (4, 3), (1, 1), (1, 0)])
def test_last_or_past_the_end_pages_have_no_next(current: int, total: int) -> None:
    chunk = parse_list(CTX, 200, orjson.dumps(list_body([], current_page=current, total_page=total)))
    assert chunk.orders == () and chunk.next_position is None


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        orjson.dumps([arrow_order()]),  # the orders without the envelope
        orjson.dumps({"orders": [arrow_order()]}),
        orjson.dumps({"status": 200, "data": {"orders": [arrow_order()]}}),  # no pagination
        orjson.dumps({"status": 200, "data": [], "pagination": list_body([])["pagination"]}),
        orjson.dumps(list_body([{"reference": "XSPO1"}])),
        orjson.dumps(list_body([arrow_order(dateCreation=1735786800)])),
        orjson.dumps(list_body([arrow_order(dateCreation="yesterday")])),
        orjson.dumps(list_body([arrow_order(status=None)])),
        orjson.dumps(list_body([arrow_order(products=[arrow_product(sku=None)])])),
        orjson.dumps(list_body([arrow_order(products=[arrow_product(quantity="two")])])),
        orjson.dumps(list_body([arrow_order(commitmentAmountTotal="a lot")])),
        orjson.dumps(list_body([arrow_order(products=None)])),
    ],
)
def test_garbage_lists_are_bad_responses(body: bytes) -> None:
    with pytest.raises(UpstreamBadResponseError) as info:
        parse_list(CTX, 200, body)
    assert info.value.provider == "arrow-eu"


def test_an_error_in_the_envelope_of_a_200_is_that_error() -> None:
    with pytest.raises(UpstreamAuthError):
        parse_list(CTX, 200, orjson.dumps({"status": 401, "error": "Unauthorized", "messages": "bad key"}))
    with pytest.raises(UpstreamBadResponseError) as info:
        parse_list(CTX, 200, orjson.dumps({"status": 500, "error": "Internal", "messages": "db down"}))
    assert info.value.upstream_status == 500
    with pytest.raises(OrderNotFoundError):
        parse_order(CTX, 200, orjson.dumps({"status": 404, "error": "Not Found", "messages": "no"}))


def test_read_takes_the_one_element_list() -> None:
    order = parse_order(CTX, 200, orjson.dumps(read_body(arrow_order())), reference="XSPO1001")
    assert order.native_id == "XSPO1001"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, {"status": 404, "error": "Not Found", "messages": "Order XSPO9 not found"}),
        (404, None),
        (200, {"status": 200, "data": {"orders": []}}),
    ],
)
def test_read_of_an_unknown_order_is_not_found(status: int, body: Any) -> None:
    with pytest.raises(OrderNotFoundError):
        parse_order(CTX, status, orjson.dumps(body) if body is not None else b"<html>")


@pytest.mark.parametrize(
    "body",
    [
        {"status": 200, "data": {"orders": [arrow_order(), arrow_order(reference="XSPO1002")]}},
        read_body(arrow_order(reference="XSPO1002")),
        {"status": 200, "data": {"order": arrow_order()}},
        {"status": 200, "data": arrow_order()},
    ],
)
def test_read_answers_of_the_wrong_shape_are_bad_responses(body: Any) -> None:
    with pytest.raises(UpstreamBadResponseError):
        parse_order(CTX, 200, orjson.dumps(body), reference="XSPO1001")


def test_created_answer_gives_the_reference() -> None:
    body = {"status": 200, "data": {"reference": "XSPO123456", "link": "/api/orders/XSPO123456"}}
    assert parse_created(CTX, 200, orjson.dumps(body)) == "XSPO123456"
    assert parse_created(CTX, 201, orjson.dumps(body)) == "XSPO123456"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, {"status": 200, "data": {"link": "/api/orders/XSPO1"}}, UpstreamBadResponseError),
        (200, {"status": 200, "data": {"reference": "../../admin"}}, UpstreamBadResponseError),
        (200, {"reference": "XSPO1"}, UpstreamBadResponseError),
        (400, {"status": 400, "error": "Bad Request", "messages": ["customer.reference"]}, UpstreamError),
        (403, {"status": 403, "error": "Forbidden", "messages": "no"}, UpstreamAuthError),
    ],
)
def test_bad_create_answers(status: int, body: Any, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        parse_created(CTX, status, orjson.dumps(body))
    assert type(info.value) is error


# --- errors and ids --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, UpstreamAuthError),
        (403, UpstreamAuthError),
        (400, UpstreamError),
        (404, UpstreamError),
        (409, UpstreamError),
        (429, UpstreamError),
        (500, UpstreamBadResponseError),
        (503, UpstreamBadResponseError),
        (302, UpstreamBadResponseError),
    ],
)
def test_classify_error_table(status: int, error: type[UpstreamError]) -> None:
    body = orjson.dumps(
        {"status": status, "error": "x", "messages": f"apiKey {SIM_TOKEN} at db-host 10.0.0.7"}
    )
    classified = classify_error("arrow-eu", status, body)
    assert type(classified) is error
    assert classified.upstream_status == status and classified.provider == "arrow-eu"
    assert "10.0.0.7" not in classified.detail and SIM_TOKEN not in classified.detail


def test_a_404_while_listing_is_an_upstream_error_not_a_missing_order() -> None:
    with pytest.raises(UpstreamError) as info:
        parse_list(CTX, 404, b'{"status": 404, "error": "Not Found", "messages": "x"}')
    assert type(info.value) is UpstreamError


@pytest.mark.parametrize(
    ("native_id", "valid"),
    [
        ("XSPO1001", True),
        ("XSPO123456", True),
        ("xspo1001", False),
        ("XSP1001", False),
        ("XSPO", False),
        ("XSPO12a", False),
        ("XSPO1001/cancel", False),
        ("../orders", False),
        ("", False),
    ],
)
def test_native_ids_are_xspo_and_digits(native_id: str, valid: bool) -> None:
    assert is_native_id(native_id) is valid
