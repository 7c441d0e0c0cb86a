"""The IVCAP adapter's async shell, once, with respx: what goes on the wire, how failures map."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx
import orjson
import pytest
import respx

from gateway.adapters.base import ListRequest, OrderDraft
from gateway.adapters.ivcap import IVCAP_CAPABILITIES, IVCAP_LEGACY_CAPABILITIES, IvcapAdapter
from gateway.errors import (
    OrderNotFoundError,
    UpstreamAuthError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
    ValidationFailedError,
)
from gateway.models import Status
from gateway.query import Filters, SortKey
from gateway.settings import IvcapSettings
from gateway.sim.ivcap import create_ivcap_sim
from tests.adapters.ivcap_samples import (
    ACCOUNT,
    ORDER,
    SERVICE,
    legacy_page,
    list_item,
    list_page,
    order_status,
)
from tests.support.credentials import SIM_TOKEN as TOKEN

BASE = "http://ivcap.internal:9002/1/"
ENCODED = "urn%3Aivcap%3Aorder%3A3c1e0000-0000-4000-8000-000000000001"


def settings(dialect: str = "current", timeout_s: float = 0.5) -> IvcapSettings:
    return IvcapSettings.model_validate(
        {"kind": "ivcap", "base_url": BASE, "token": TOKEN, "dialect": dialect, "timeout_s": timeout_s}
    )


@pytest.fixture
async def adapter() -> IvcapAdapter:
    return IvcapAdapter("ivcap", settings(), httpx.AsyncClient(), gateway_url="https://gw")


def test_the_adapter_declares_its_kind_and_capabilities(adapter: IvcapAdapter) -> None:
    assert IvcapAdapter.kind == "ivcap" and adapter.instance == "ivcap"
    assert adapter.capabilities is IVCAP_CAPABILITIES
    assert IVCAP_CAPABILITIES.filters == {"created_after", "created_before", "customer", "service"}
    assert IVCAP_CAPABILITIES.max_page_size == 50 and not IVCAP_CAPABILITIES.stable_paging
    assert IVCAP_CAPABILITIES.can_create and not IVCAP_CAPABILITIES.can_delete
    assert IVCAP_CAPABILITIES.actions == {"metadata", "add_metadata", "products", "offering"}
    assert IVCAP_CAPABILITIES.read_actions == {"metadata", "products", "offering"}
    legacy = IvcapAdapter("old", settings("legacy"), httpx.AsyncClient())
    assert legacy.capabilities is IVCAP_LEGACY_CAPABILITIES
    assert legacy.capabilities.actions == legacy.capabilities.read_actions == {"metadata", "products"}


@respx.mock
async def test_list_sends_the_bearer_token_and_params_and_reads_the_page(adapter: IvcapAdapter) -> None:
    route = respx.get(f"{BASE}orders").mock(
        return_value=httpx.Response(200, content=orjson.dumps(list_page()))
    )
    chunk = await adapter.list_orders(
        ListRequest(filters=Filters(customer=ACCOUNT), sort=SortKey.CREATED_ASC, page_size=25)
    )
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.url.params["limit"] == "25"
    assert request.url.params["filter"] == f"account eq '{ACCOUNT}'"
    assert request.url.params["order-desc"] == "false"
    assert [o.native_id for o in chunk.orders] == [ORDER] and chunk.next_position == "b2Zmc2V0PTE"


@respx.mock
async def test_impossible_filters_make_no_call(adapter: IvcapAdapter) -> None:
    route = respx.get(f"{BASE}orders")
    chunk = await adapter.list_orders(
        ListRequest(filters=Filters(customer="nope"), sort=SortKey.CREATED_ASC, page_size=25)
    )
    assert chunk.orders == () and chunk.next_position is None and not route.called


@respx.mock
async def test_get_order_percent_encodes_the_whole_urn(adapter: IvcapAdapter) -> None:
    route = respx.get(f"{BASE}orders/{ENCODED}").mock(
        return_value=httpx.Response(200, content=orjson.dumps(order_status()))
    )
    order = await adapter.get_order(ORDER.upper().replace("URN:IVCAP:ORDER:", "urn:ivcap:order:"))
    assert route.calls.last.request.url.raw_path == f"/1/orders/{ENCODED}".encode()
    assert order.native_id == ORDER


@respx.mock
async def test_ids_that_are_no_order_urn_make_no_call(adapter: IvcapAdapter) -> None:
    route = respx.route()
    for native_id in ("3c1e0000-0000-4000-8000-000000000001", "urn:ivcap:service:x", f"{ORDER}/products"):
        with pytest.raises(OrderNotFoundError):
            await adapter.get_order(native_id)
    assert not route.called


@respx.mock
async def test_a_404_read_is_order_not_found(adapter: IvcapAdapter) -> None:
    respx.get(f"{BASE}orders/{ENCODED}").mock(
        return_value=httpx.Response(404, json={"id": ORDER, "message": "order not found"})
    )
    with pytest.raises(OrderNotFoundError):
        await adapter.get_order(ORDER)


@pytest.mark.parametrize(
    ("side_effect", "error"),
    [
        (httpx.ConnectError("refused"), UpstreamUnreachableError),
        (httpx.RemoteProtocolError("peer closed"), UpstreamUnreachableError),
        (httpx.ReadTimeout("slow"), UpstreamTimeoutError),
        (httpx.Response(401), UpstreamAuthError),
        (httpx.Response(403, json={"message": "missing scope consumer:read"}), UpstreamAuthError),
    ],
)
@respx.mock
async def test_transport_failures_become_gateway_errors(
    adapter: IvcapAdapter, side_effect: object, error: type[Exception]
) -> None:
    route = respx.get(f"{BASE}orders/{ENCODED}")
    if isinstance(side_effect, httpx.Response):
        route.mock(return_value=side_effect)
    else:
        route.mock(side_effect=side_effect)
    with pytest.raises(error) as info:
        await adapter.get_order(ORDER)
    assert "ivcap.internal" not in str(info.value) and TOKEN not in str(info.value)


@respx.mock
async def test_our_own_budget_bounds_a_slow_upstream() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(1)
        return httpx.Response(200, content=orjson.dumps(list_page()))

    respx.get(f"{BASE}orders").mock(side_effect=slow)
    adapter = IvcapAdapter("ivcap", settings(timeout_s=0.05), httpx.AsyncClient())
    with pytest.raises(UpstreamTimeoutError):
        await adapter.list_orders(ListRequest(filters=Filters(), sort=SortKey.CREATED_DESC, page_size=5))


@respx.mock
async def test_health_is_a_list_of_one_and_never_raises(adapter: IvcapAdapter) -> None:
    route = respx.get(f"{BASE}orders").mock(
        return_value=httpx.Response(200, content=orjson.dumps(list_page()))
    )
    health = await adapter.check_health()
    assert health.status == "ok" and route.calls.last.request.url.params["limit"] == "1"
    route.mock(return_value=httpx.Response(401))
    assert (await adapter.check_health()).error == "upstream-auth"
    route.mock(side_effect=httpx.ConnectError("refused"))
    assert (await adapter.check_health()).error == "upstream-unreachable"


@respx.mock
async def test_the_legacy_dialect_speaks_the_old_shape() -> None:
    route = respx.get(f"{BASE}orders").mock(
        return_value=httpx.Response(200, content=orjson.dumps(legacy_page()))
    )
    adapter = IvcapAdapter("old", settings("legacy"), httpx.AsyncClient())
    chunk = await adapter.list_orders(ListRequest(filters=Filters(), sort=SortKey.CREATED_DESC, page_size=5))
    assert route.calls.last.request.url.params["$orderby"] == "ordered_at desc"
    assert [o.provider for o in chunk.orders] == ["old"] and chunk.next_position == "eyJuIjoxfQ"
    await adapter.list_orders(
        ListRequest(filters=Filters(), sort=SortKey.CREATED_DESC, page_size=5, position=chunk.next_position)
    )
    assert dict(route.calls.last.request.url.params) == {"pageToken": "eyJuIjoxfQ", "limit": "5"}


@respx.mock
async def test_an_unknown_status_is_logged_once_per_value(
    adapter: IvcapAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [list_item(status="quarantined"), list_item(status="quarantined"), list_item(status="unknown")]
    respx.get(f"{BASE}orders").mock(return_value=httpx.Response(200, content=orjson.dumps(list_page(*rows))))
    request = ListRequest(filters=Filters(), sort=SortKey.CREATED_DESC, page_size=5)
    with caplog.at_level(logging.WARNING, logger="gateway.adapters.ivcap"):
        await adapter.list_orders(request)
        await adapter.list_orders(request)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert any("'quarantined'" in m for m in messages) and any("'unknown'" in m for m in messages)


# --- the shell against the simulator (ASGI, no sockets) ---------------------------------


@pytest.mark.parametrize("dialect", ["current", "legacy"])
async def test_the_adapter_reads_the_simulator_in_either_dialect(dialect: str) -> None:
    now = datetime(2025, 6, 1, 12, tzinfo=UTC)
    sim = create_ivcap_sim(orders=120, seed=5, token=TOKEN, clock=lambda: now, dialect=dialect)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(sim)) as client:
        adapter = IvcapAdapter("ivcap", settings(dialect), client)
        since = datetime(2025, 1, 1, tzinfo=UTC)
        walked, position = [], None
        for _ in range(20):
            request = ListRequest(
                Filters(created_after=since), SortKey.CREATED_ASC, page_size=7, position=position
            )
            chunk = await adapter.list_orders(request)
            walked += chunk.orders
            position = chunk.next_position
            if position is None:
                break
        expected = sorted(
            (o for o in sim.state.store if o.ordered_at >= since), key=lambda o: (o.ordered_at, o.id)
        )
        assert [o.native_id for o in walked] == [o.id for o in expected] and len(walked) > 7
        stored = next(o for o in expected if o.status_at(now) == "succeeded")
        order = await adapter.get_order(stored.id)
        assert order.status is Status.COMPLETED and order.completed_at == stored.finished_at(now)
        assert {item.id for item in order.items} == {p.id for p in stored.products}
        assert "ivcap.internal" not in order.model_dump_json()
        assert (await adapter.check_health()).status == "ok"


@respx.mock
async def test_create_posts_order_request_json_and_reads_the_answer(adapter: IvcapAdapter) -> None:
    created = order_status(status="pending", tags=["ogw:m-1"])
    route = respx.post(f"{BASE}orders").mock(return_value=httpx.Response(200, json=created))
    draft = OrderDraft(
        name="Fire risk for Lot 2",
        service=SERVICE,
        customer=None,
        items=(),
        parameters={"region": "Upper Valley", "threshold": 10},
        provider_options={},
        marker="m-1",
    )
    order = await adapter.create_order(draft)
    request = route.calls.last.request
    assert route.call_count == 1 and request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert orjson.loads(request.content) == {
        "service": SERVICE,
        "name": "Fire risk for Lot 2",
        "parameters": [{"name": "region", "value": "Upper Valley"}, {"name": "threshold", "value": "10"}],
        "tags": ["ogw:m-1"],
    }
    assert order.native_id == ORDER and order.status is Status.PENDING and order.actions == ("add_metadata",)


@respx.mock
async def test_a_refused_create_is_a_validation_failure_without_upstream_text(adapter: IvcapAdapter) -> None:
    respx.post(f"{BASE}orders").mock(
        return_value=httpx.Response(422, json={"name": "policy", "message": "secret upstream words"})
    )
    draft = OrderDraft(None, SERVICE, None, (), {}, {}, "m-1")
    with pytest.raises(ValidationFailedError) as info:
        await adapter.create_order(draft)
    assert info.value.extensions["errors"] == [
        {"loc": ["body", "provider_options", "policy"], "msg": "refused by the provider"}
    ]
    assert "secret" not in str(info.value.extensions) and "secret" not in info.value.detail
