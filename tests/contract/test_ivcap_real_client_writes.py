"""What the IVCAP adapter writes, read back by the real ``ivcap-client`` from the simulator (ivcap.md §8);
and the simulator's service read, which the adapter's ``offering`` uses, parsed by the client."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from ivcap_client import IVCAP
from ivcap_client.api.aspect import aspect_read
from ivcap_client.api.order import order_read
from ivcap_client.api.servicex import servicex_read
from ivcap_client.client import AuthenticatedClient
from ivcap_client.models.aspect_rt import AspectRT
from ivcap_client.models.order_status_rt import OrderStatusRT
from ivcap_client.models.resource_not_found_t import ResourceNotFoundT
from ivcap_client.models.x_service_status_rt import XServiceStatusRT
from ivcap_client.models.x_service_status_rt_status import XServiceStatusRTStatus
from starlette.applications import Starlette

from gateway.adapters.base import ActionOutcome, OrderDraft
from gateway.adapters.ivcap import IvcapAdapter
from gateway.models import Order
from gateway.settings import IvcapSettings
from gateway.sim.ivcap import create_ivcap_sim
from tests.support.credentials import SIM_TOKEN as TOKEN
from tests.support.servers import running_server

pytestmark = pytest.mark.e2e

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim() -> Starlette:
    return create_ivcap_sim(orders=30, seed=6, token=TOKEN, clock=lambda: NOW)


@pytest.fixture(scope="module")
def sim_url(sim: Starlette) -> Iterator[str]:
    with running_server(sim) as url:
        yield url


@pytest.fixture
def client(sim_url: str) -> Iterator[AuthenticatedClient]:
    with AuthenticatedClient(base_url=sim_url, token=TOKEN) as client:
        yield client


def create_and_annotate(sim_url: str, draft: OrderDraft) -> tuple[Order, ActionOutcome]:
    """Through the adapter, over real HTTP: create an order, then add one aspect to it."""

    async def scenario() -> tuple[Order, ActionOutcome]:
        settings = IvcapSettings.model_validate(
            {"kind": "ivcap", "base_url": f"{sim_url}/1/", "token": TOKEN}
        )
        async with httpx.AsyncClient() as http:
            adapter = IvcapAdapter("ivcap", settings, http)
            order = await adapter.create_order(draft)
            payload = {"schema": "urn:example:schema:review.1", "content": {"checked": True}}
            return order, await adapter.perform(order.native_id, "add_metadata", payload)

    return asyncio.run(scenario())


def test_servicex_read_parses_the_simulated_service(client: AuthenticatedClient, sim: Starlette) -> None:
    service = sim.state.store.services[2]
    response = servicex_read.sync_detailed(service.id, client=client)
    parsed = response.parsed
    assert response.status_code == 200 and isinstance(parsed, XServiceStatusRT)
    assert (parsed.id, parsed.name, parsed.status) == (
        service.id,
        service.name,
        XServiceStatusRTStatus.ACTIVE,
    )
    assert parsed.additional_properties == {}  # every key is one the model knows
    assert [p.name for p in parsed.parameters] == [name for name, _ in service.parameters]
    assert all(p.additional_properties == {} for p in parsed.parameters)
    assert {link.rel for link in parsed.links} == {"self"}
    missing = servicex_read.sync_detailed(
        "urn:ivcap:service:00000000-0000-4000-8000-000000000000", client=client
    )
    assert missing.status_code == 404 and isinstance(missing.parsed, ResourceNotFoundT)


def test_the_client_reads_an_order_and_aspect_the_adapter_made(
    client: AuthenticatedClient, sim: Starlette, sim_url: str
) -> None:
    service = sim.state.store.services[1].id
    draft = OrderDraft("Flood model for Lot 4", service, None, (), {"catchment": "Lower Creek", "return-period": 100},
                       {"tags": ["demo"]}, "ogw-contract-1")  # fmt: skip
    order, annotated = create_and_annotate(sim_url, draft)

    read = order_read.sync_detailed(id=order.native_id, client=client).parsed
    assert isinstance(read, OrderStatusRT) and read.additional_properties == {}
    assert read.tags == ["demo", "ogw:ogw-contract-1"] and read.name == "Flood model for Lot 4"
    assert [(p.name, p.value) for p in read.parameters] == [
        ("catchment", "Lower Creek"),
        ("return-period", "100"),
    ]

    aspect_id = annotated.resource["id"]
    aspect = aspect_read.sync_detailed(aspect_id, client=client).parsed
    assert isinstance(aspect, AspectRT) and aspect.entity == order.native_id
    assert aspect.schema == "urn:example:schema:review.1"
    ivcap = IVCAP(url=sim_url, token=TOKEN)
    with ivcap._client:
        listed = {a.id: a for a in ivcap.list_aspects(entity=order.native_id, limit=None)}
    assert listed[aspect_id].aspect == {
        "checked": True,
        "$schema": "urn:example:schema:review.1",
        "$entity": order.native_id,
    }
