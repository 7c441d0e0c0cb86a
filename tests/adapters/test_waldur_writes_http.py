"""The Waldur adapter's write shell, once, with respx: what goes on the wire, how answers map."""

from __future__ import annotations

import dataclasses

import httpx
import orjson
import pytest
import respx

from gateway.adapters.base import OrderDraft, Upload
from gateway.adapters.waldur import WaldurAdapter
from gateway.errors import (
    ActionNotAllowedError,
    OrderNotFoundError,
    UnsupportedActionError,
    UpstreamUnreachableError,
    ValidationFailedError,
)
from gateway.settings import WaldurSettings
from tests.adapters.samples import waldur_order
from tests.support.credentials import SIM_TOKEN as TOKEN

BASE = "http://waldur.internal:9001/api/"
SETTINGS = WaldurSettings.model_validate(
    {"kind": "waldur", "base_url": BASE, "token": TOKEN, "timeout_s": 0.5}
)
UUID = "0b9f3c1e6d2a4f5b8c7d9e0f1a2b3c4d"
ORDER = f"{BASE}marketplace-orders/{UUID}/"
DRAFT = OrderDraft(
    name="vm-1",
    service="5f1c2a3b000040008000000000000001",
    customer="5f1c2a3b000040008000000000000002",
    items=({"id": "cpu", "quantity": 2},),
    parameters={},
    provider_options={},
    marker="ogw-0123456789abcdef0123",
)


@pytest.fixture
async def adapter() -> WaldurAdapter:
    return WaldurAdapter("waldur-eu", SETTINGS, httpx.AsyncClient(), gateway_url="https://gw")


def order_response(**overrides: object) -> httpx.Response:
    return httpx.Response(200, content=orjson.dumps(waldur_order(**overrides)))


@respx.mock
async def test_create_posts_the_mapped_body_with_the_token(adapter: WaldurAdapter) -> None:
    route = respx.post(f"{BASE}marketplace-orders/").mock(
        return_value=httpx.Response(201, content=orjson.dumps(waldur_order(slug=DRAFT.marker)))
    )
    order = await adapter.create_order(DRAFT)
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Token {TOKEN}"
    sent = orjson.loads(request.content)
    assert sent["offering"] == f"{BASE}marketplace-public-offerings/5f1c2a3b000040008000000000000001/"
    assert sent["limits"] == {"cpu": 2} and sent["slug"] == DRAFT.marker
    assert order.native_id == UUID and order.provider == "waldur-eu"


@respx.mock
async def test_an_invalid_draft_makes_no_call(adapter: WaldurAdapter) -> None:
    route = respx.post(f"{BASE}marketplace-orders/")
    with pytest.raises(ValidationFailedError):
        await adapter.create_order(dataclasses.replace(DRAFT, service=None))
    assert not route.called


@respx.mock
async def test_find_created_queries_the_marker_and_takes_the_exact_slug(adapter: WaldurAdapter) -> None:
    rows = [waldur_order(uuid="a" * 32, slug=DRAFT.marker + "x"), waldur_order(slug=DRAFT.marker)]
    route = respx.get(f"{BASE}marketplace-orders/").mock(
        return_value=httpx.Response(200, content=orjson.dumps(rows))
    )
    found = await adapter.find_created(DRAFT)
    assert found is not None and found.native_id == UUID
    assert route.calls.last.request.url.params["query"] == DRAFT.marker
    route.mock(return_value=httpx.Response(200, content=b"[]"))
    assert await adapter.find_created(DRAFT) is None


@respx.mock
async def test_an_action_with_an_empty_200_answers_the_re_read_order(adapter: WaldurAdapter) -> None:
    action = respx.post(f"{ORDER}approve_by_consumer/").mock(return_value=httpx.Response(200))
    read = respx.get(ORDER).mock(return_value=order_response(state="executing"))
    outcome = await adapter.perform(UUID.upper(), "approve", {})
    assert action.called and read.called
    assert outcome.order is not None and outcome.order.provider_status == "executing"


@respx.mock
async def test_update_attachment_sends_multipart(adapter: WaldurAdapter) -> None:
    route = respx.post(f"{ORDER}update_attachment/").mock(
        return_value=httpx.Response(200, json={"attachment": f"{BASE}media/po.pdf"})
    )
    respx.get(ORDER).mock(return_value=order_response())
    upload = Upload(filename="po.pdf", content_type="application/pdf", content=b"%PDF-1.4")
    await adapter.perform(UUID, "update_attachment", {"attachment": upload})
    request = route.calls.last.request
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="attachment"; filename="po.pdf"' in request.content and b"%PDF-1.4" in request.content


@respx.mock
async def test_delete_answers_no_order_without_re_reading(adapter: WaldurAdapter) -> None:
    route = respx.delete(ORDER).mock(return_value=httpx.Response(204))
    read = respx.get(ORDER)
    outcome = await adapter.perform(UUID, "delete", {})
    assert route.called and not read.called and outcome.order is None


@respx.mock
async def test_a_404_from_an_action_is_told_apart_by_re_reading(adapter: WaldurAdapter) -> None:
    respx.post(f"{ORDER}retry/").mock(return_value=httpx.Response(404, json={"detail": "Not found."}))
    respx.post(f"{ORDER}delete_attachment/").mock(return_value=httpx.Response(404))
    read = respx.get(ORDER).mock(return_value=order_response(state="erred"))
    with pytest.raises(UnsupportedActionError):  # an older server without the endpoint
        await adapter.perform(UUID, "retry", {})
    with pytest.raises(ActionNotAllowedError):  # no attachment to delete
        await adapter.perform(UUID, "delete_attachment", {})
    read.mock(return_value=httpx.Response(404, json={"detail": "No Order matches the given query."}))
    with pytest.raises(OrderNotFoundError):
        await adapter.perform(UUID, "retry", {})


@respx.mock
async def test_offering_reads_the_offering_and_the_order(adapter: WaldurAdapter) -> None:
    respx.get(f"{ORDER}offering/").mock(
        return_value=httpx.Response(
            200, json={"uuid": "5f1c2a3b000040008000000000000001", "name": "Small VM"}
        )
    )
    respx.get(ORDER).mock(return_value=order_response())
    outcome = await adapter.perform(UUID, "offering", {})
    assert outcome.order is not None and outcome.resource["name"] == "Small VM"


@respx.mock
async def test_unknown_ids_and_bad_payloads_make_no_call(adapter: WaldurAdapter) -> None:
    route = respx.route()
    with pytest.raises(OrderNotFoundError):
        await adapter.perform("not-a-uuid", "cancel", {})
    with pytest.raises(ValidationFailedError):
        await adapter.perform(UUID, "set_backend_id", {})
    with pytest.raises(UnsupportedActionError):
        await adapter.perform(UUID, "history", {})
    assert not route.called


@respx.mock
async def test_a_dropped_connection_is_unreachable(adapter: WaldurAdapter) -> None:
    respx.post(f"{ORDER}cancel/").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(UpstreamUnreachableError) as caught:
        await adapter.perform(UUID, "cancel", {})
    assert "waldur.internal" not in str(caught.value)
