"""The simulated ArrowSphere through HTTP: shapes, auth, paging, filters, sorting, writes and faults."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from gateway.adapters.arrow import ArrowAdapter
from gateway.adapters.base import ListRequest, OrderDraft
from gateway.errors import OrderNotFoundError, UpstreamAuthError, UpstreamUnreachableError
from gateway.models import Order, Status
from gateway.query import Filters, SortKey
from gateway.settings import ArrowSettings
from gateway.sim.arrow import create_arrow_sim
from gateway.sim.faults import FaultPlan
from tests.support.credentials import SIM_TOKEN as TOKEN
from tests.support.credentials import WRONG_TOKEN
from tests.support.servers import running_server

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
BASE = "http://testserver"
ORDERS = "/index.php/api/orders"
SKU = "SAAS||Microsoft||MS-0A-O365-BUSINESS||BD938F12"
WIRE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
WIRE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Body = dict[str, Any]

# arrow.md §8.
ORDER_STATUSES = {
    "Accepted", "Archived", "Billfeed Error", "External Warning", "Fulfilled", "In progress",
    "Internal Warning", "Migration canceled", "Migration cancel in progress", "Migration failed",
    "Needs Validation", "Needs Partner Validation", "Not Accepted", "Ongoing Validation", "Open",
    "Order queued", "Syncing with Billfeed", "Transfer Failed", "Transfer in progress",
    "Transfer ok", "Sent", "Order Validated", "Scheduled Order", "Canceled",
    "Pending Finance validation", "Validated by partner", "Validated by country admin",
    "Validated by arrow finance",
}  # fmt: skip
ITEM_STATUSES = {
    "Archived", "External Error", "In progress", "Internal Error", "Open", "Pending",
    "Pending relationship", "Pre-provisioned", "Provisioned", "Transfer Failed",
    "Transfer in progress", "Transfer ok",
}  # fmt: skip
LIFECYCLE = ("cancel", "validate", "rejectGraded", "resubmit", "archive")


def make_sim(clock: Callable[[], datetime] = lambda: NOW, **options: Any) -> Starlette:
    return create_arrow_sim(token=TOKEN, clock=clock, **options)


def client_for(app: Starlette, *, key: str | None = TOKEN, base_url: str = BASE) -> httpx.AsyncClient:
    headers = {} if key is None else {"apiKey": key}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=base_url, headers=headers)


@pytest.fixture(scope="module")
def sim() -> Starlette:
    return make_sim()


@pytest.fixture
async def client(sim: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sim) as client:
        yield client


@pytest.fixture
async def fresh() -> AsyncIterator[httpx.AsyncClient]:
    """A client of a simulator of its own, for tests that change orders."""
    async with client_for(make_sim()) as client:
        yield client


async def list_orders(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    return await client.get(ORDERS, params=params)


async def fetch_all(client: httpx.AsyncClient, **params: Any) -> list[Body]:
    """Every matching order, walking pages of 100 until ``total_page``."""
    bodies: list[Body] = []
    for page in range(1, 1000):
        response = await list_orders(client, **params, per_page=100, page=page)
        assert response.status_code == 200, response.text
        body = response.json()
        bodies.extend(body["data"]["orders"])
        if body["pagination"]["total_page"] <= page:
            return bodies
    raise AssertionError("pagination never ended")


async def read_order(client: httpx.AsyncClient, reference: str) -> Body:
    response = await client.get(f"{ORDERS}/{reference}")
    assert response.status_code == 200, response.text
    orders: list[Body] = response.json()["data"]["orders"]
    assert len(orders) == 1
    return orders[0]


def refs(bodies: list[Body]) -> list[str]:
    return [body["reference"] for body in bodies]


def assert_refusal(response: httpx.Response, status: int) -> Body:
    assert response.status_code == status, response.text
    body: Body = response.json()
    assert set(body) == {"status", "error", "messages"}
    assert body["status"] == status and isinstance(body["error"], str) and body["error"]
    assert isinstance(body["messages"], str | list) and body["messages"]
    return body


# --- shapes: the keys the real clients read (§6, §9) -------------------------------------

STR, NUM, NULL = (str,), (int, float), (type(None),)
# Key → allowed JSON types: every key the PHP entities read without a default, and the
# optional ones of §6 (always present here).
ORDER_KEYS: dict[str, tuple[type, ...]] = {
    "reference": STR, "status": STR, "dateStatus": STR, "dateCreation": STR,
    "order_reference": STR, "commitmentAmountTotal": NUM, "partner": (dict,), "customer": (dict,),
    "products": (list,), "ponumber": STR + NULL, "endCustomerPONumber": STR + NULL,
    "createdBy": STR + NULL, "createdByImpersonator": STR + NULL, "scheduledDate": STR + NULL,
    "extraInformation": (dict,), "organizationUnitRef": STR + NULL, "customFields": (list,),
    "actions": (dict,),
}  # fmt: skip
PRODUCT_KEYS: dict[str, tuple[type, ...]] = {
    "sku": STR, "name": STR, "classification": STR, "vendorName": STR, "programName": STR,
    "program": (dict,), "identifiers": (dict,), "quantity": (int,), "prices": (dict,),
    "subscription": (dict,), "license": (dict, type(None)), "status": STR, "dateStatus": STR,
    "detailedStatus": STR, "isAddon": (bool,), "isTrial": (bool,), "arrowSubCategories": (list,),
}  # fmt: skip
PRICE_KEYS: dict[str, tuple[type, ...]] = {
    "buy": NUM, "sell": NUM, "currency": STR, "periodicity": STR, "term": STR,
    "periodicityCode": (int,), "termCode": (int,),
}  # fmt: skip
PAGINATION_KEYS = {"per_page", "current_page", "total_page", "total", "next", "previous"}


def assert_typed(body: Body, keys: dict[str, tuple[type, ...]], where: str) -> None:
    assert set(body) == set(keys), where
    for key, types in keys.items():
        value = body[key]
        assert isinstance(value, types) and not (isinstance(value, bool) and bool not in types), (where, key)


def assert_order_shape(order: Body) -> None:
    where = order.get("reference", "?")
    assert_typed(order, ORDER_KEYS, where)
    assert re.fullmatch(r"XSPO\d+", order["reference"])
    assert WIRE_TIME.match(order["dateStatus"]) and WIRE_TIME.match(order["dateCreation"])
    assert order["dateStatus"] >= order["dateCreation"]
    assert order["scheduledDate"] is None or WIRE_DATE.match(order["scheduledDate"])
    assert set(order["partner"]) == {"companyName", "contact"}
    assert set(order["partner"]["contact"]) == {"email", "firstName", "lastName"}
    assert all(isinstance(v, str) for v in order["partner"]["contact"].values())
    customer = order["customer"]
    assert re.fullmatch(r"XSP\d+", customer["reference"])
    assert customer["link"] == f"/api/customers/{customer['reference']}"
    assert isinstance(order["extraInformation"]["programs"], dict)
    assert all(set(f) == {"label", "value"} for f in order["customFields"])
    assert order["organizationUnitRef"] is None or re.fullmatch(r"XSPOU\d+", order["organizationUnitRef"])
    assert order["products"], where
    total = Decimal(0)
    for product in order["products"]:
        assert_typed(product, PRODUCT_KEYS, where)
        assert_typed(product["prices"], PRICE_KEYS, where)
        assert isinstance(product["program"]["legacyCode"], str)
        assert isinstance(product["identifiers"]["vendor"]["sku"], str)
        assert re.fullmatch(r"XSPS\d+", product["subscription"]["reference"])
        assert product["license"] is None or re.fullmatch(r"XSP\d+", product["license"]["reference"])
        assert WIRE_TIME.match(product["dateStatus"])
        assert product["status"] in ITEM_STATUSES and product["quantity"] >= 1
        assert re.fullmatch(r"[A-Z]{3}", product["prices"]["currency"])
        total += Decimal(str(product["prices"]["buy"])) * product["quantity"]
    assert Decimal(str(order["commitmentAmountTotal"])) == total, where
    assert order["actions"]["history"] == f"api/orders/{order['reference']}/history"


async def test_every_listed_order_has_every_key_the_clients_read(client: httpx.AsyncClient) -> None:
    orders = await fetch_all(client)
    assert len(orders) == 500 == len(set(refs(orders)))
    for order in orders:
        assert_order_shape(order)


async def test_list_answer_is_the_envelope_with_the_six_pagination_keys(client: httpx.AsyncClient) -> None:
    response = await list_orders(client)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"status", "data", "pagination"} and body["status"] == 200
    assert set(body["data"]) == {"orders"} and len(body["data"]["orders"]) == 25
    pagination = body["pagination"]
    assert set(pagination) == PAGINATION_KEYS
    assert (pagination["per_page"], pagination["current_page"], pagination["total"]) == (25, 1, 500)
    assert pagination["total_page"] == 20 and pagination["previous"] is None
    assert isinstance(pagination["next"], str)


async def test_read_answer_is_a_one_element_list_equal_to_the_listed_order(client: httpx.AsyncClient) -> None:
    listed = (await list_orders(client, per_page=3)).json()["data"]["orders"][2]
    response = await client.get(f"{ORDERS}/{listed['reference']}")
    body = response.json()
    assert set(body) == {"status", "data"} and body["status"] == 200
    assert body["data"] == {"orders": [listed]}


async def test_create_answer_is_only_the_reference_and_link(fresh: httpx.AsyncClient) -> None:
    response = await fresh.post(
        ORDERS, json={"customer": {"reference": "XSP17727"}, "products": [{"sku": SKU, "quantity": 1}]}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "data"} and body["status"] == 200
    assert set(body["data"]) == {"reference", "link"}
    assert body["data"]["link"] == f"/api/orders/{body['data']['reference']}"
    assert_order_shape(await read_order(fresh, body["data"]["reference"]))


# --- default data --------------------------------------------------------------------


async def test_default_data_has_every_status_spelling_item_status_and_a_real_world(
    client: httpx.AsyncClient,
) -> None:
    orders = await fetch_all(client)
    statuses = {order["status"] for order in orders}
    assert statuses == ORDER_STATUSES | {"open", "pending validation"}
    products = [product for order in orders for product in order["products"]]
    assert {product["status"] for product in products} == ITEM_STATUSES
    assert {p["program"]["legacyCode"] for p in products} >= {"Microsoft", "Adobe", "Google"}
    assert len({order["customer"]["reference"] for order in orders}) >= 10
    assert len({order["organizationUnitRef"] for order in orders} - {None}) >= 4
    assert len({p["prices"]["currency"] for p in products}) >= 3
    assert len({order["partner"]["contact"]["email"] for order in orders}) >= 3
    created = [order["dateCreation"] for order in orders]
    assert len(set(created)) < len(created)  # some orders share their creation second
    newest = datetime.fromisoformat(max(created)).replace(tzinfo=UTC)
    assert NOW - timedelta(days=731) <= datetime.fromisoformat(min(created)).replace(tzinfo=UTC)
    assert newest <= NOW


async def test_same_seed_and_clock_give_the_same_orders_and_another_seed_others() -> None:
    pages = []
    for seed in (1, 1, 2):
        async with client_for(make_sim(seed=seed, orders=60)) as client:
            pages.append((await list_orders(client, per_page=100)).json())
    assert pages[0] == pages[1]
    assert pages[0] != pages[2]


async def test_thirty_thousand_orders_build_and_page() -> None:
    async with client_for(make_sim(orders=30_000)) as client:
        last = (await list_orders(client, per_page=100, page=300)).json()
        statuses = (await list_orders(client, status="in progress", per_page=100)).json()
    assert last["pagination"]["total"] == 30_000 and len(last["data"]["orders"]) == 100
    assert last["pagination"]["next"] is None
    assert {o["status"] for o in statuses["data"]["orders"]} == {"In progress"}


# --- authentication (§1) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"apiKey": WRONG_TOKEN}, {"apiKey": ""}, {"Authorization": TOKEN}],
    ids=["none", "wrong-key", "empty-key", "authorization-header"],
)
async def test_missing_or_wrong_api_key_is_a_401_envelope(sim: Starlette, headers: dict[str, str]) -> None:
    async with client_for(sim, key=None) as client:
        for request in (client.get(ORDERS, headers=headers), client.post(ORDERS, headers=headers, json={})):
            assert_refusal(await request, 401)


async def test_the_api_key_header_name_is_case_insensitive(sim: Starlette) -> None:
    async with client_for(sim, key=None) as client:
        assert (await client.get(ORDERS, headers={"APIKEY": TOKEN})).status_code == 200


async def test_routing_comes_before_the_key_and_methods_are_checked_after_it(sim: Starlette) -> None:
    async with client_for(sim, key=None) as client:
        assert_refusal(await client.get("/index.php/api/customers"), 404)
        assert_refusal(await client.patch(f"{ORDERS}/XSPO1001/teleport"), 404)
        assert_refusal(await client.delete(ORDERS), 401)
    async with client_for(sim) as client:
        refused = await client.delete(ORDERS)
        assert_refusal(refused, 405)
        assert refused.headers["Allow"] == "GET, POST"
        assert_refusal(await client.post(f"{ORDERS}/XSPO1001/cancel"), 405)  # actions are PATCH
        assert_refusal(await client.get(f"{ORDERS}/"), 404)


# --- pagination (§5) -----------------------------------------------------------------


@pytest.mark.parametrize(("asked", "served"), [(1, 1), (100, 100), (101, 100), (5000, 100)])
async def test_per_page_is_clamped_to_100(client: httpx.AsyncClient, asked: int, served: int) -> None:
    body = (await list_orders(client, per_page=asked)).json()
    assert len(body["data"]["orders"]) == served == body["pagination"]["per_page"]
    assert body["pagination"]["total_page"] == -(-500 // served)


@pytest.mark.parametrize(
    ("name", "value"), [("page", "0"), ("page", "-1"), ("page", "x"), ("per_page", "0"), ("per_page", "2.5")]
)
async def test_non_positive_integer_paging_is_a_400(client: httpx.AsyncClient, name: str, value: str) -> None:
    body = assert_refusal(await list_orders(client, **{name: value}), 400)
    assert any(name in message for message in body["messages"])


async def test_a_page_past_the_end_is_an_empty_200(client: httpx.AsyncClient) -> None:
    body = (await list_orders(client, per_page=100, page=9)).json()
    assert body["status"] == 200 and body["data"]["orders"] == []
    assert body["pagination"]["current_page"] == 9 and body["pagination"]["total_page"] == 5
    assert body["pagination"]["next"] is None
    assert parse_qs(urlsplit(body["pagination"]["previous"]).query)["page"] == ["8"]


async def test_next_and_previous_are_urls_of_those_pages_keeping_the_query(client: httpx.AsyncClient) -> None:
    body = (await list_orders(client, status="Fulfilled", per_page=10, page=2)).json()
    for key, page in (("next", "3"), ("previous", "1")):
        url = urlsplit(body["pagination"][key])
        assert (url.scheme, url.netloc, url.path) == ("http", "testserver", ORDERS)
        assert parse_qs(url.query) == {"status": ["Fulfilled"], "per_page": ["10"], "page": [page]}
    last = (await list_orders(client, per_page=100, page=5)).json()["pagination"]
    assert last["next"] is None


async def test_walking_the_pages_visits_every_order_once(client: httpx.AsyncClient, sim: Starlette) -> None:
    walked = []
    for page in range(1, 100):
        body = (await list_orders(client, per_page=37, page=page, sortBy="dateStatus")).json()
        walked.extend(refs(body["data"]["orders"]))
        if body["pagination"]["next"] is None:
            break
    assert len(walked) == len(set(walked)) == 500
    assert set(walked) == {order.reference for order in sim.state.store}


async def test_an_empty_result_is_one_empty_page(client: httpx.AsyncClient) -> None:
    body = (await list_orders(client, reference="XSPO999999")).json()
    assert body["data"]["orders"] == []
    assert body["pagination"] == {"per_page": 25, "current_page": 1, "total_page": 1, "total": 0,
                                  "next": None, "previous": None}  # fmt: skip


# --- filters (§5) --------------------------------------------------------------------


async def test_reference_filter_is_exact(client: httpx.AsyncClient) -> None:
    assert refs((await list_orders(client, reference="XSPO1234")).json()["data"]["orders"]) == ["XSPO1234"]
    assert (await list_orders(client, reference="xspo1234")).json()["data"]["orders"] == []
    assert (await list_orders(client, reference="XSPO123")).json()["data"]["orders"] == []  # not a prefix


@pytest.mark.parametrize("spelling", ["open", "OPEN", "Open"])
async def test_status_filter_ignores_case(client: httpx.AsyncClient, spelling: str) -> None:
    matched = await fetch_all(client, status=spelling)
    assert {order["status"] for order in matched} == {"Open", "open"}
    everything = await fetch_all(client)
    assert len(matched) == sum(order["status"].lower() == "open" for order in everything)


async def test_status_with_spaces_and_an_unknown_status(client: httpx.AsyncClient) -> None:
    matched = await fetch_all(client, status="PENDING VALIDATION")
    assert matched and {order["status"] for order in matched} == {"pending validation"}
    assert (await list_orders(client, status="Quantum")).json()["data"]["orders"] == []


async def test_program_filter_matches_a_products_legacy_code(client: httpx.AsyncClient) -> None:
    matched = await fetch_all(client, program="adobe")
    everything = await fetch_all(client)
    expected = [o for o in everything if any(p["program"]["legacyCode"] == "Adobe" for p in o["products"])]
    assert matched and sorted(refs(matched)) == sorted(refs(expected))


async def test_date_filters(client: httpx.AsyncClient) -> None:
    everything = await fetch_all(client)
    day = everything[40]["dateCreation"][:10]
    since = await fetch_all(client, **{"from": day})
    assert sorted(refs(since)) == sorted(o["reference"] for o in everything if o["dateCreation"][:10] >= day)
    on = await fetch_all(client, period=day)
    assert on and sorted(refs(on)) == sorted(
        o["reference"] for o in everything if o["dateCreation"][:10] == day
    )
    updated = await fetch_all(client, lastUpdate=day)
    assert sorted(refs(updated)) == sorted(o["reference"] for o in everything if o["dateStatus"][:10] >= day)
    assert len(updated) > len(since)  # orders created earlier but changed since


async def test_organization_unit_filter_is_repeatable(client: httpx.AsyncClient) -> None:
    params = [("organizationUnitRef[]", "XSPOU20"), ("organizationUnitRef[]", "XSPOU28"), ("per_page", "100")]
    matched = (await client.get(ORDERS, params=params)).json()
    units = {order["organizationUnitRef"] for order in matched["data"]["orders"]}
    assert units == {"XSPOU20", "XSPOU28"}
    single = (await list_orders(client, organizationUnitRef="XSPOU20", per_page=100)).json()
    assert {order["organizationUnitRef"] for order in single["data"]["orders"]} == {"XSPOU20"}


async def test_filters_combine_and_empty_values_are_ignored(client: httpx.AsyncClient) -> None:
    combined = await fetch_all(
        client, status="Fulfilled", program="Microsoft", status_unknown="x", reference=""
    )
    assert combined
    assert all(order["status"] == "Fulfilled" for order in combined)
    assert all(order["products"][0]["program"]["legacyCode"] == "Microsoft" for order in combined)


@pytest.mark.parametrize(
    ("name", "value"),
    [("from", "2025-13-01"), ("from", "01/02/2025"), ("period", "2025-1-1"), ("lastUpdate", "yesterday"),
     ("sortBy", "created"), ("sortBy", "asc"), ("orderBy", "dateCreation"), ("orderBy", "up")],
)  # fmt: skip
async def test_bad_filter_values_are_a_400_naming_them(
    client: httpx.AsyncClient, name: str, value: str
) -> None:
    body = assert_refusal(await list_orders(client, **{name: value}), 400)
    assert any(message.startswith(f"{name}:") for message in body["messages"])


async def test_several_bad_values_are_reported_together(client: httpx.AsyncClient) -> None:
    body = assert_refusal(await list_orders(client, page="x", period="never", orderBy="sideways"), 400)
    assert len(body["messages"]) == 3


# --- sorting: sortBy is the field, orderBy the direction (§5) ---------------------------


def key_of(order: Body, field: str) -> tuple[Any, str]:
    value = order[field].casefold() if field == "status" else order[field]
    return (value, order["reference"])


async def test_default_order_is_creation_newest_first(client: httpx.AsyncClient) -> None:
    orders = await fetch_all(client)
    assert orders == sorted(orders, key=lambda o: key_of(o, "dateCreation"), reverse=True)


@pytest.mark.parametrize("field", ["dateCreation", "dateStatus", "status", "reference"])
@pytest.mark.parametrize("direction", ["asc", "desc", "ASC"])
async def test_sort_by_field_order_by_direction(
    client: httpx.AsyncClient, field: str, direction: str
) -> None:
    orders = await fetch_all(client, sortBy=field, orderBy=direction)
    descending = direction.lower() == "desc"
    assert refs(orders) == refs(sorted(orders, key=lambda o: key_of(o, field), reverse=descending))
    assert refs(orders) != refs(sorted(orders, key=lambda o: key_of(o, field), reverse=not descending))


async def test_swapping_sort_by_and_order_by_is_refused_not_silently_misread(
    client: httpx.AsyncClient,
) -> None:
    ascending = await fetch_all(client, sortBy="dateCreation", orderBy="asc")
    assert ascending[0]["dateCreation"] < ascending[-1]["dateCreation"]
    assert_refusal(await list_orders(client, sortBy="asc", orderBy="dateCreation"), 400)


async def test_ties_break_on_reference_in_the_same_direction(client: httpx.AsyncClient) -> None:
    ascending = await fetch_all(client, sortBy="dateCreation", orderBy="asc")
    seen: dict[str, list[str]] = {}
    for order in ascending:
        seen.setdefault(order["dateCreation"], []).append(order["reference"])
    runs = [run for run in seen.values() if len(run) > 1]
    assert runs and all(run == sorted(run) for run in runs)
    descending = await fetch_all(client, sortBy="dateCreation", orderBy="desc")
    assert refs(descending) == refs(ascending)[::-1]


# --- read (§4) ---------------------------------------------------------------------


async def test_read_of_an_unknown_reference_is_a_404_envelope(client: httpx.AsyncClient) -> None:
    assert_refusal(await client.get(f"{ORDERS}/XSPO999999"), 404)
    assert_refusal(await client.get(f"{ORDERS}/xspo1001"), 404)


# --- create (§6) -------------------------------------------------------------------


async def test_create_makes_an_open_order_in_the_customers_currency(fresh: httpx.AsyncClient) -> None:
    body = {
        "customer": {"reference": "XSP17727", "ponumber": "PO-1", "endCustomerPONumber": "EC-2"},
        "products": [
            {"sku": SKU, "quantity": 3},
            {"arrowSpherePriceBandSku": "GGL-WS-STARTER_1010020027_1M", "quantity": 2},
        ],
        "scenario": "default",
        "organizationUnitRef": "XSPOU20",
        "customFields": [{"label": "Cost centre", "value": "CC-1"}],
        "extraInformation": {"programs": {"Microsoft": {"domainName": "contoso.onmicrosoft.com"}}},
    }
    before = (await list_orders(fresh)).json()["pagination"]["total"]
    reference = (await fresh.post(ORDERS, json=body)).json()["data"]["reference"]
    order = await read_order(fresh, reference)
    assert reference == "XSPO1501"  # the sequence goes on after the seeded XSPO1001..1500
    assert order["status"] == "Open" and order["dateCreation"] == order["dateStatus"] == "2025-06-01 12:00:00"
    assert (order["ponumber"], order["endCustomerPONumber"]) == ("PO-1", "EC-2")
    assert order["organizationUnitRef"] == "XSPOU20" and order["customFields"] == body["customFields"]
    assert order["extraInformation"] == body["extraInformation"] and order["createdBy"] == "api"
    assert [(p["sku"], p["quantity"], p["status"]) for p in order["products"]] == [
        (SKU, 3, "Pending"),
        ("SAAS||Google||GGL-WS-STARTER||1010020027", 2, "Pending"),
    ]
    assert {p["prices"]["currency"] for p in order["products"]} == {"GBP"}  # Contoso is billed in GBP
    assert order["actions"] == {
        "cancel": f"api/orders/{reference}/cancel",
        "validate": f"api/orders/{reference}/validate",
        "history": f"api/orders/{reference}/history",
    }
    assert (await list_orders(fresh)).json()["pagination"]["total"] == before + 1
    assert refs((await list_orders(fresh, per_page=1)).json()["data"]["orders"]) == [reference]


async def test_create_with_a_future_date_is_scheduled_and_a_quote_needs_no_products(
    fresh: httpx.AsyncClient,
) -> None:
    scheduled = await fresh.post(
        ORDERS,
        json={
            "customer": {"reference": "XSP99"},
            "products": [{"sku": SKU, "quantity": 1}],
            "scheduledDate": "2025-07-01",
        },
    )
    order = await read_order(fresh, scheduled.json()["data"]["reference"])
    assert (order["status"], order["scheduledDate"]) == ("Scheduled Order", "2025-07-01")
    assert order["products"][0]["prices"]["currency"] == "EUR"  # an unknown customer
    quoted = await fresh.post(ORDERS, json={"customer": {"reference": "XSP17727"}, "quoteRef": "XSPQ42"})
    assert len((await read_order(fresh, quoted.json()["data"]["reference"]))["products"]) == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"products": [{"sku": SKU, "quantity": 1}]},
        {"customer": {}, "products": [{"sku": SKU, "quantity": 1}]},
        {"customer": {"reference": "ACME"}, "products": [{"sku": SKU, "quantity": 1}]},
        {"customer": {"reference": "XSP1"}},
        {"customer": {"reference": "XSP1"}, "products": []},
        {"customer": {"reference": "XSP1"}, "products": [{"sku": SKU}]},
        {"customer": {"reference": "XSP1"}, "products": [{"sku": SKU, "quantity": "2"}]},
        {"customer": {"reference": "XSP1"}, "products": [{"sku": SKU, "quantity": True}]},
        {"customer": {"reference": "XSP1"}, "products": [{"sku": SKU, "quantity": 0}]},
        {"customer": {"reference": "XSP1"}, "products": [{"quantity": 1}]},
        {"customer": {"reference": "XSP1"}, "products": [{"sku": "NOPE", "quantity": 1}]},
        {"customer": {"reference": "XSP1"}, "products": [{"sku": SKU, "quantity": 1, "colour": "red"}]},
        {"customer": {"reference": "XSP1", "poNumber": "x"}, "products": [{"sku": SKU, "quantity": 1}]},
        {"customer": {"reference": "XSP1"}, "products": [{"sku": SKU, "quantity": 1}], "scenario": "magic"},
        {
            "customer": {"reference": "XSP1"},
            "products": [{"sku": SKU, "quantity": 1}],
            "scheduledDate": "2025-02-30",
        },
        [{"customer": {"reference": "XSP1"}}],
    ],
)
async def test_bad_create_bodies_are_a_400_and_create_nothing(fresh: httpx.AsyncClient, body: Any) -> None:
    before = (await list_orders(fresh)).json()["pagination"]["total"]
    assert_refusal(await fresh.post(ORDERS, json=body), 400)
    assert (await list_orders(fresh)).json()["pagination"]["total"] == before


async def test_a_create_body_that_is_not_json_is_a_400(fresh: httpx.AsyncClient) -> None:
    assert_refusal(await fresh.post(ORDERS, content=b"{customer"), 400)


# --- actions and the status machine (§4, §8) --------------------------------------------

# (action, from, to): every transition of the simulator's machine (docs/decisions.md).
TRANSITIONS = [
    ("validate", "Open", "Order Validated"),
    ("validate", "open", "Order Validated"),
    ("validate", "Needs Validation", "Order Validated"),
    ("validate", "pending validation", "Order Validated"),
    ("validate", "Ongoing Validation", "Order Validated"),
    ("validate", "Needs Partner Validation", "Validated by partner"),
    ("validate", "Pending Finance validation", "Validated by arrow finance"),
    ("rejectGraded", "Needs Validation", "Not Accepted"),
    ("rejectGraded", "Needs Partner Validation", "Not Accepted"),
    ("rejectGraded", "Pending Finance validation", "Not Accepted"),
    ("rejectGraded", "Ongoing Validation", "Not Accepted"),
    ("rejectGraded", "pending validation", "Not Accepted"),
    ("resubmit", "Billfeed Error", "In progress"),
    ("resubmit", "Internal Warning", "In progress"),
    ("resubmit", "External Warning", "In progress"),
    ("resubmit", "Migration failed", "In progress"),
    ("resubmit", "Transfer Failed", "Transfer in progress"),
    *[("archive", s, "Archived") for s in ("Fulfilled", "Transfer ok", "Canceled", "Migration canceled", "Not Accepted")],
    *[
        ("cancel", s, "Canceled")
        for s in sorted(ORDER_STATUSES | {"open", "pending validation"})
        if s not in {"Fulfilled", "Transfer ok", "Canceled", "Migration canceled", "Not Accepted", "Archived",
                     "Migration cancel in progress"}
    ],
]  # fmt: skip
ALLOWED = {(action, status) for action, status, _ in TRANSITIONS}


def order_in(app: Starlette, status: str) -> str:
    """The reference of an order put into ``status`` (the store's own objects, as a test may)."""
    order = next(o for o in app.state.store if o.status not in ("Archived",))
    order.status = status
    app.state.store.changed()
    return str(order.reference)


@pytest.mark.parametrize(("action", "start", "end"), TRANSITIONS)
async def test_each_allowed_action_moves_the_order_and_stamps_it(action: str, start: str, end: str) -> None:
    clock = [NOW]
    app = make_sim(clock=lambda: clock[0], orders=40)
    reference = order_in(app, start)
    clock[0] = NOW + timedelta(hours=1, microseconds=7)
    async with client_for(app) as client:
        assert action in (await read_order(client, reference))["actions"]
        response = await client.patch(f"{ORDERS}/{reference}/{action}")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == 200 and isinstance(response.json()["data"]["message"], str)
        order = await read_order(client, reference)
        history = (await client.get(f"{ORDERS}/{reference}/history")).json()["data"]
    assert order["status"] == end and order["dateStatus"] == "2025-06-01 13:00:00"
    assert history[-1] == {"orderId": reference, "action": action, "description": history[-1]["description"],
                           "user": "api", "dateAction": "2025-06-01 13:00:00"}  # fmt: skip


@pytest.mark.parametrize("status", sorted(ORDER_STATUSES | {"open", "pending validation"}))
async def test_actions_object_lists_exactly_the_allowed_actions_and_others_are_400(status: str) -> None:
    app = make_sim(orders=40)
    reference = order_in(app, status)
    async with client_for(app) as client:
        order = await read_order(client, reference)
        allowed = {a for a in LIFECYCLE if (a, status) in ALLOWED}
        assert set(order["actions"]) == allowed | {"history"}
        assert all(path == f"api/orders/{reference}/{name}" for name, path in order["actions"].items())
        for action in sorted(set(LIFECYCLE) - allowed):
            body = assert_refusal(await client.patch(f"{ORDERS}/{reference}/{action}"), 400)
            assert action in body["messages"]
        assert await read_order(client, reference) == order  # nothing changed


async def test_archive_archives_the_products_and_resubmit_restarts_failed_ones(
    fresh: httpx.AsyncClient,
) -> None:
    fulfilled = (await list_orders(fresh, status="Fulfilled", per_page=1)).json()["data"]["orders"][0]
    await fresh.patch(f"{ORDERS}/{fulfilled['reference']}/archive")
    archived = await read_order(fresh, fulfilled["reference"])
    assert archived["status"] == "Archived" and {p["status"] for p in archived["products"]} == {"Archived"}
    assert set(archived["actions"]) == {"history"}
    failed = (await list_orders(fresh, status="Transfer Failed", per_page=1)).json()["data"]["orders"][0]
    assert (await fresh.patch(f"{ORDERS}/{failed['reference']}/resubmit")).status_code == 200
    restarted = await read_order(fresh, failed["reference"])
    assert {p["status"] for p in restarted["products"]} == {"Transfer in progress"}


async def test_an_action_on_an_unknown_order_is_a_404(fresh: httpx.AsyncClient) -> None:
    assert_refusal(await fresh.patch(f"{ORDERS}/XSPO999999/cancel"), 404)


async def test_update_sets_po_numbers_and_custom_fields(fresh: httpx.AsyncClient) -> None:
    fields = [{"label": "Project code", "value": "P-7"}]
    response = await fresh.patch(
        f"{ORDERS}/XSPO1010",
        json={"PO_number": "PO-NEW", "end_customer_PO_number": "EC-NEW", "customFields": fields},
    )
    assert response.status_code == 200 and isinstance(response.json()["data"]["message"], str)
    order = await read_order(fresh, "XSPO1010")
    assert (order["ponumber"], order["endCustomerPONumber"], order["customFields"]) == (
        "PO-NEW",
        "EC-NEW",
        fields,
    )
    history = (await fresh.get(f"{ORDERS}/XSPO1010/history")).json()["data"]
    assert history[-1]["action"] == "update"


@pytest.mark.parametrize(
    "body", [{}, {"ponumber": "x"}, {"PO_number": 7}, {"customFields": [{"label": "x"}]}, None]
)
async def test_bad_updates_are_a_400(fresh: httpx.AsyncClient, body: Any) -> None:
    before = await read_order(fresh, "XSPO1010")
    response = (
        await fresh.patch(f"{ORDERS}/XSPO1010", json=body)
        if body is not None
        else await fresh.patch(f"{ORDERS}/XSPO1010")
    )
    assert_refusal(response, 400)
    assert await read_order(fresh, "XSPO1010") == before


async def test_contributors_and_additional_information(fresh: httpx.AsyncClient) -> None:
    path = f"{ORDERS}/XSPO1011"
    ok = await fresh.patch(
        f"{path}/contributor",
        json={"contributor": [{"type": "isr", "staffId": 12}, {"type": "sor", "staffId": None}]},
    )
    assert ok.status_code == 200
    assert_refusal(
        await fresh.patch(f"{path}/contributor", json={"contributor": [{"type": "boss", "staffId": 1}]}), 400
    )
    ok = await fresh.patch(
        f"{path}/additionalInformation", json={"data": [{"name": "note", "value": "rush"}]}
    )
    assert ok.status_code == 200
    assert_refusal(await fresh.patch(f"{path}/additionalInformation", json={"data": []}), 400)
    history = (await fresh.get(f"{path}/history")).json()["data"]
    assert [entry["action"] for entry in history[-2:]] == ["contributor", "additionalInformation"]


async def test_history_entries_have_the_clients_keys(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{ORDERS}/XSPO1001/history")
    body = response.json()
    assert set(body) == {"status", "data"} and isinstance(body["data"], list) and body["data"]
    for entry in body["data"]:
        assert set(entry) == {"orderId", "action", "description", "user", "dateAction"}
        assert entry["orderId"] == "XSPO1001" and WIRE_TIME.match(entry["dateAction"])
    assert body["data"][0]["action"] == "create"
    assert_refusal(await client.get(f"{ORDERS}/XSPO999999/history"), 404)


async def test_attachments_upload_list_replace_and_delete(fresh: httpx.AsyncClient) -> None:
    path = f"{ORDERS}/XSPO1012/attachment"
    assert (await fresh.get(path)).json()["data"] == {"attachments": []}
    encoded = base64.b64encode(b"%PDF-1.7 quote").decode()
    uploaded = await fresh.post(path, json={"name": "quote.pdf", "fileEncoded": encoded})
    assert uploaded.status_code == 200
    attachment = uploaded.json()["data"]
    assert set(attachment) == {"name", "url", "lastModified", "metadata"}
    assert attachment["name"] == "quote.pdf" and WIRE_TIME.match(attachment["lastModified"])
    await fresh.post(path, json={"name": "quote.pdf", "fileEncoded": base64.b64encode(b"v2").decode()})
    await fresh.post(path, json={"name": "po.pdf", "fileEncoded": encoded})
    listed = (await fresh.get(path)).json()
    assert [a["name"] for a in listed["data"]["attachments"]] == ["po.pdf", "quote.pdf"]
    assert listed["data"]["attachments"][1]["metadata"] == {"size": "2"}
    assert set(listed["pagination"]) == PAGINATION_KEYS
    assert (await fresh.delete(f"{path}/po.pdf")).status_code == 200
    assert_refusal(await fresh.delete(f"{path}/po.pdf"), 404)
    assert [a["name"] for a in (await fresh.get(path)).json()["data"]["attachments"]] == ["quote.pdf"]


@pytest.mark.parametrize(
    "body",
    [{"name": "a.pdf", "fileEncoded": "not base64!"}, {"name": "a/b.pdf", "fileEncoded": "AA=="},
     {"name": "", "fileEncoded": "AA=="}, {"fileEncoded": "AA=="}],
)  # fmt: skip
async def test_bad_attachments_are_a_400(fresh: httpx.AsyncClient, body: Body) -> None:
    assert_refusal(await fresh.post(f"{ORDERS}/XSPO1012/attachment", json=body), 400)


# --- latency and faults ----------------------------------------------------------------


async def test_latency_delays_api_requests_but_not_the_control_path() -> None:
    async with client_for(make_sim(orders=20, latency_ms=150)) as client:
        started = time.perf_counter()
        assert (await list_orders(client)).status_code == 200
        assert time.perf_counter() - started >= 0.15
        started = time.perf_counter()
        assert (await client.get("/__sim__/faults")).status_code == 200
        assert time.perf_counter() - started < 0.15


async def test_faults_are_wired_over_http_and_through_app_state() -> None:
    app = make_sim(orders=20)
    async with client_for(app, key=None) as client:
        armed = await client.post("/__sim__/faults", json={"status": 503, "retry_after": 2, "path": ORDERS})
        assert armed.status_code == 200
        failed = await client.get(ORDERS, headers={"apiKey": TOKEN})
        assert failed.status_code == 503 and failed.headers["Retry-After"] == "2"
        assert (await client.get(ORDERS, headers={"apiKey": TOKEN})).status_code == 200
    app.state.faults.arm(FaultPlan(malformed=True))
    async with client_for(app) as client:
        malformed = await list_orders(client)
        assert malformed.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(malformed.content)
        assert (await list_orders(client)).status_code == 200


async def test_store_is_exposed_and_changes_show_at_once() -> None:
    app = make_sim(orders=40)
    store = app.state.store
    assert len(store) == 40 and store.get("XSPO1001") is not None
    store.get("XSPO1001").status = "Sent"
    store.changed()
    async with client_for(app) as client:
        sent = (await list_orders(client, status="sent", per_page=100)).json()["data"]["orders"]
    assert "XSPO1001" in refs(sent)


# --- the gateway's adapter against the simulator ------------------------------------------


def adapter_for(client: httpx.AsyncClient, base_url: str, *, key: str = TOKEN) -> ArrowAdapter:
    settings = ArrowSettings.model_validate(
        {"kind": "arrow", "base_url": f"{base_url}/index.php/api/", "api_key": key, "timeout_s": 5}
    )
    return ArrowAdapter("arrow", settings, client)


@pytest.mark.parametrize("sort", list(SortKey))
async def test_the_adapter_walks_every_order_once_in_its_sort(sim: Starlette, sort: SortKey) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(sim)) as http:
        adapter = adapter_for(http, BASE)
        seen: list[Order] = []
        position: str | None = None
        while True:
            chunk = await adapter.list_orders(ListRequest(Filters(), sort, page_size=100, position=position))
            seen.extend(chunk.orders)
            if chunk.next_position is None:
                break
            position = chunk.next_position
    assert len(seen) == len({o.id for o in seen}) == 500
    keys = [((o.updated_at if sort.field == "updated_at" else o.created_at), o.id) for o in seen]
    assert keys == sorted(keys, reverse=sort.descending)  # the gateway's own (time, id) order
    assert {o.status for o in seen} == set(Status)


async def test_the_adapters_pushed_down_day_bounds_keep_every_match(sim: Starlette) -> None:
    bound = datetime(2025, 5, 20, 13, 30, tzinfo=UTC)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(sim)) as http:
        adapter = adapter_for(http, BASE)
        wide = await adapter.list_orders(ListRequest(Filters(), SortKey.CREATED_DESC, page_size=100))
        narrowed = await adapter.list_orders(
            ListRequest(
                Filters(created_after=bound, updated_after=bound), SortKey.CREATED_DESC, page_size=100
            )
        )
    exact = {o.id for o in wide.orders if o.created_at >= bound and (o.updated_at or o.created_at) >= bound}
    assert exact and exact <= {o.id for o in narrowed.orders}
    assert all(o.created_at.date() >= bound.date() for o in narrowed.orders)


async def test_the_adapter_creates_then_reads_and_reports_a_wrong_key() -> None:
    app = make_sim(orders=40)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app)) as http:
        adapter = adapter_for(http, BASE)
        draft = OrderDraft("PO-9", None, "XSP17727", ({"sku": SKU, "quantity": 2},), {}, {}, "m-9")
        order = await adapter.create_order(draft)
        assert (order.native_id, order.name, order.status, order.provider_status) == (
            "XSPO1041",
            "PO-9",
            Status.PENDING,
            "Open",
        )
        assert order.total is not None and order.total.currency == "GBP"
        assert await adapter.get_order("XSPO1041") == order
        with pytest.raises(OrderNotFoundError):
            await adapter.get_order("XSPO999999")
        assert (await adapter.check_health()).status == "ok"
        refused = adapter_for(http, BASE, key=WRONG_TOKEN)
        with pytest.raises(UpstreamAuthError):
            await refused.get_order("XSPO1001")
        assert (await refused.check_health()).error == "upstream-auth"


def test_over_real_http_a_dropped_answer_is_unreachable_and_the_next_call_works() -> None:
    async def scenario(url: str) -> None:
        async with httpx.AsyncClient() as http:
            adapter = adapter_for(http, url)
            assert (
                await adapter.create_order(OrderDraft(None, None, "XSP1", (), {}, {"quoteRef": "Q1"}, "m-1"))
            ).native_id
            # Dropped on every attempt (a read is tried three times by default).
            await http.post(f"{url}/__sim__/faults", json={"drop": True, "count": 3})
            with pytest.raises(UpstreamUnreachableError):
                await adapter.get_order("XSPO1001")
            assert (await adapter.get_order("XSPO1001")).native_id == "XSPO1001"

    with running_server(make_sim(orders=20)) as url:
        asyncio.run(scenario(url))
