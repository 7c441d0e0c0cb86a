"""The Waldur adapter's async shell, once, with respx: what goes on the wire, how failures map."""

from __future__ import annotations

import httpx
import orjson
import pytest
import respx

from gateway.adapters.base import ListRequest
from gateway.adapters.waldur import WaldurAdapter
from gateway.errors import (
    OrderNotFoundError,
    UpstreamAuthError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
)
from gateway.query import Filters, SortKey
from gateway.settings import WaldurSettings
from tests.adapters.samples import waldur_order
from tests.support.credentials import SIM_TOKEN as TOKEN

BASE = "http://waldur.internal:9001/api/"
SETTINGS = WaldurSettings.model_validate(
    {"kind": "waldur", "base_url": BASE, "token": TOKEN, "timeout_s": 0.5}
)


@pytest.fixture
async def adapter() -> WaldurAdapter:
    return WaldurAdapter("waldur-eu", SETTINGS, httpx.AsyncClient(), gateway_url="https://gw")


@respx.mock
async def test_list_sends_token_params_and_reads_the_page(adapter: WaldurAdapter) -> None:
    route = respx.get(f"{BASE}marketplace-orders/").mock(
        return_value=httpx.Response(
            200, content=orjson.dumps([waldur_order()]), headers={"X-Result-Count": "1"}
        )
    )
    chunk = await adapter.list_orders(
        ListRequest(
            filters=Filters(customer="5f1c2a3b000040008000000000000003"),
            sort=SortKey.CREATED_ASC,
            page_size=25,
        )
    )
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Token {TOKEN}"
    assert request.url.params.get_list("o") == ["created"]
    assert request.url.params["page_size"] == "25"
    assert request.url.params["customer_uuid"] == "5f1c2a3b000040008000000000000003"
    assert [o.provider for o in chunk.orders] == ["waldur-eu"] and chunk.next_position is None


@respx.mock
async def test_impossible_filters_make_no_call(adapter: WaldurAdapter) -> None:
    route = respx.get(f"{BASE}marketplace-orders/")
    chunk = await adapter.list_orders(
        ListRequest(filters=Filters(customer="nope"), sort=SortKey.CREATED_ASC, page_size=25)
    )
    assert chunk.orders == () and not route.called


@respx.mock
async def test_get_order_normalises_the_id_and_maps_404(adapter: WaldurAdapter) -> None:
    respx.get(f"{BASE}marketplace-orders/{'a' * 32}/").mock(
        return_value=httpx.Response(404, json={"detail": "No Order matches the given query."})
    )
    with pytest.raises(OrderNotFoundError):
        await adapter.get_order("A" * 32)


@pytest.mark.parametrize(
    ("side_effect", "error"),
    [
        (httpx.ConnectError("refused"), UpstreamUnreachableError),
        (httpx.RemoteProtocolError("peer closed"), UpstreamUnreachableError),
        (httpx.ReadTimeout("slow"), UpstreamTimeoutError),
        (httpx.Response(401, json={"detail": "Invalid token."}), UpstreamAuthError),
    ],
)
@respx.mock
async def test_transport_failures_become_gateway_errors(
    adapter: WaldurAdapter, side_effect: object, error: type[Exception]
) -> None:
    route = respx.get(f"{BASE}marketplace-orders/{'a' * 32}/")
    if isinstance(side_effect, httpx.Response):
        route.mock(return_value=side_effect)
    else:
        route.mock(side_effect=side_effect)
    with pytest.raises(error) as info:
        await adapter.get_order("a" * 32)
    assert "waldur.internal" not in str(info.value) and TOKEN not in str(info.value)


@respx.mock
async def test_health_is_a_head_of_one_row(adapter: WaldurAdapter) -> None:
    route = respx.head(f"{BASE}marketplace-orders/").mock(
        return_value=httpx.Response(200, headers={"X-Result-Count": "9"})
    )
    health = await adapter.check_health()
    assert health.status == "ok" and route.calls.last.request.url.params["page_size"] == "1"
    route.mock(return_value=httpx.Response(403))
    assert (await adapter.check_health()).error == "upstream-auth"
