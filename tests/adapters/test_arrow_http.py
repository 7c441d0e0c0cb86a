"""The Arrow adapter's async shell, once, with respx: what goes on the wire, how failures map."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import orjson
import pytest
import respx

from gateway.adapters.arrow import ArrowAdapter
from gateway.adapters.base import ListRequest, OrderDraft
from gateway.errors import (
    OrderNotFoundError,
    UpstreamAuthError,
    UpstreamBadResponseError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
    ValidationFailedError,
)
from gateway.query import Filters, SortKey
from gateway.settings import ArrowSettings
from tests.adapters.arrow_samples import arrow_order, list_body, read_body
from tests.support.credentials import SIM_TOKEN as KEY

BASE = "http://arrow.internal:9003/index.php/api/"
SETTINGS = ArrowSettings.model_validate(
    {"kind": "arrow", "base_url": BASE, "api_key": KEY, "timeout_s": 0.3, "timezone": "Europe/Paris"}
)
SKU = "SAAS||Microsoft||MS-0A-O365-BUSINESS||BD938F12"
DRAFT = OrderDraft(
    name="PO-9",
    service=None,
    customer="XSP12345",
    items=({"sku": SKU, "quantity": 2},),
    parameters={},
    provider_options={},
    marker="m-1",
)
CREATE_BODY = {
    "customer": {"reference": "XSP12345", "ponumber": "PO-9"},
    "products": [{"sku": SKU, "quantity": 2}],
    "customFields": [{"label": "order-gateway-marker", "value": "m-1"}],
}


@pytest.fixture
async def adapter() -> ArrowAdapter:
    return ArrowAdapter("arrow-eu", SETTINGS, httpx.AsyncClient(), gateway_url="https://gw")


@respx.mock
async def test_list_sends_the_key_and_params_and_reads_the_page(adapter: ArrowAdapter) -> None:
    route = respx.get(f"{BASE}orders").mock(
        return_value=httpx.Response(200, json=list_body([arrow_order()], current_page=1, total_page=4))
    )
    chunk = await adapter.list_orders(
        ListRequest(
            filters=Filters(created_after=datetime(2025, 1, 1, 23, 30, tzinfo=UTC)),
            sort=SortKey.UPDATED_ASC,
            page_size=25,
        )
    )
    request = route.calls.last.request
    assert request.headers["apiKey"] == KEY
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers
    params = request.url.params
    assert (params["per_page"], params["sortBy"], params["orderBy"]) == ("25", "dateStatus", "asc")
    assert params["from"] == "2025-01-02" and "page" not in params  # a day in Europe/Paris
    assert [o.id for o in chunk.orders] == ["arrow-eu:XSPO1001"] and chunk.next_position == "2"


@respx.mock
async def test_read_of_an_id_arrow_cannot_have_makes_no_call(adapter: ArrowAdapter) -> None:
    route = respx.get(url__regex=r".*")
    with pytest.raises(OrderNotFoundError):
        await adapter.get_order("../orders?page=2")
    assert not route.called


@respx.mock
async def test_read_maps_404_to_order_not_found(adapter: ArrowAdapter) -> None:
    respx.get(f"{BASE}orders/XSPO9").mock(
        return_value=httpx.Response(404, json={"status": 404, "error": "Not Found", "messages": "x"})
    )
    with pytest.raises(OrderNotFoundError):
        await adapter.get_order("XSPO9")


@respx.mock
async def test_create_posts_the_body_then_reads_the_order_it_made(adapter: ArrowAdapter) -> None:
    created = {"status": 200, "data": {"reference": "XSPO1001", "link": "/api/orders/XSPO1001"}}
    post = respx.post(f"{BASE}orders").mock(return_value=httpx.Response(200, json=created))
    read = respx.get(f"{BASE}orders/XSPO1001").mock(
        return_value=httpx.Response(200, json=read_body(arrow_order(status="Open")))
    )
    order = await adapter.create_order(DRAFT)
    assert post.call_count == 1 and read.call_count == 1
    sent = post.calls.last.request
    assert orjson.loads(sent.content) == CREATE_BODY
    assert sent.headers["apiKey"] == KEY and sent.headers["content-type"] == "application/json"
    assert read.calls.last.request.headers["apiKey"] == KEY
    assert order.id == "arrow-eu:XSPO1001" and order.provider_status == "Open"


@respx.mock
async def test_a_refused_create_is_a_validation_failure_and_reads_nothing(adapter: ArrowAdapter) -> None:
    respx.post(f"{BASE}orders").mock(
        return_value=httpx.Response(
            400, json={"status": 400, "error": "Bad Request", "messages": ["products.0: secret words"]}
        )
    )
    read = respx.get(url__regex=r".*/orders/.*")
    with pytest.raises(ValidationFailedError) as info:
        await adapter.create_order(DRAFT)
    assert info.value.extensions["errors"][0]["loc"] == ["body"]
    assert "secret" not in str(info.value.extensions) and "secret" not in info.value.detail
    assert not read.called


@respx.mock
async def test_an_invalid_draft_makes_no_call(adapter: ArrowAdapter) -> None:
    route = respx.route()
    with pytest.raises(ValidationFailedError):
        await adapter.create_order(replace(DRAFT, customer="12345"))
    assert not route.called


@respx.mock
async def test_a_create_answer_without_a_reference_is_a_bad_response(adapter: ArrowAdapter) -> None:
    respx.post(f"{BASE}orders").mock(return_value=httpx.Response(200, json={"status": 200, "data": {}}))
    with pytest.raises(UpstreamBadResponseError):
        await adapter.create_order(DRAFT)


async def _slow(request: httpx.Request) -> httpx.Response:
    await asyncio.sleep(2)
    return httpx.Response(200, json=read_body(arrow_order()))


@pytest.mark.parametrize(
    ("side_effect", "error"),
    [
        (httpx.ConnectError("refused"), UpstreamUnreachableError),
        (httpx.RemoteProtocolError("peer closed"), UpstreamUnreachableError),
        (httpx.ReadTimeout("slow"), UpstreamTimeoutError),
        (_slow, UpstreamTimeoutError),  # our own asyncio.timeout budget
        (
            httpx.Response(401, json={"status": 401, "error": "Unauthorized", "messages": "x"}),
            UpstreamAuthError,
        ),
        (httpx.Response(502, text="<html>Bad gateway at arrow.internal</html>"), UpstreamBadResponseError),
        (httpx.Response(200, json=arrow_order()), UpstreamBadResponseError),  # no envelope
    ],
)
@respx.mock
async def test_failures_become_gateway_errors_without_hosts_or_keys(
    adapter: ArrowAdapter, side_effect: object, error: type[Exception]
) -> None:
    route = respx.get(f"{BASE}orders/XSPO1001")
    if isinstance(side_effect, httpx.Response):
        route.mock(return_value=side_effect)
    else:
        route.mock(side_effect=side_effect)
    with pytest.raises(error) as info:
        await adapter.get_order("XSPO1001")
    assert type(info.value) is error
    assert "arrow.internal" not in str(info.value) and KEY not in str(info.value)


@respx.mock
async def test_health_reads_one_order_and_never_raises(adapter: ArrowAdapter) -> None:
    route = respx.get(f"{BASE}orders").mock(return_value=httpx.Response(200, json=list_body([arrow_order()])))
    health = await adapter.check_health()
    assert health.status == "ok" and route.calls.last.request.url.params["per_page"] == "1"
    route.mock(return_value=httpx.Response(403))
    assert (await adapter.check_health()).error == "upstream-auth"
    route.mock(side_effect=httpx.ConnectError("refused"))
    assert (await adapter.check_health()).error == "upstream-unreachable"


@respx.mock
async def test_an_unknown_status_is_logged_once_per_value(
    adapter: ArrowAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    orders = [
        arrow_order(status="Quantum Review"),
        arrow_order(reference="XSPO1002", status="QUANTUM REVIEW"),
    ]
    respx.get(f"{BASE}orders").mock(return_value=httpx.Response(200, json=list_body(orders)))
    request = ListRequest(filters=Filters(), sort=SortKey.CREATED_DESC, page_size=25)
    with caplog.at_level(logging.WARNING, logger="gateway.adapters.arrow"):
        await adapter.list_orders(request)
        await adapter.list_orders(request)
    warnings = [r for r in caplog.records if r.name == "gateway.adapters.arrow"]
    assert len(warnings) == 1 and "arrow-eu" in warnings[0].getMessage()
    other = ArrowAdapter("arrow-au", SETTINGS, httpx.AsyncClient())
    with caplog.at_level(logging.WARNING, logger="gateway.adapters.arrow"):
        await other.list_orders(request)
    assert len([r for r in caplog.records if r.name == "gateway.adapters.arrow"]) == 2
