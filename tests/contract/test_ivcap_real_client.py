"""The simulated IVCAP, served by real uvicorn, driven by the real ``ivcap-client`` (ivcap.md §8)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from ivcap_client import IVCAP
from ivcap_client.api.aspect import aspect_list
from ivcap_client.api.order import order_create, order_list, order_metadata, order_products, order_read
from ivcap_client.client import AuthenticatedClient
from ivcap_client.models.bad_request_t import BadRequestT
from ivcap_client.models.invalid_parameter_t import InvalidParameterT
from ivcap_client.models.order_list_item_status import OrderListItemStatus
from ivcap_client.models.order_list_rt import OrderListRT
from ivcap_client.models.order_request_t import OrderRequestT
from ivcap_client.models.order_status_rt import OrderStatusRT
from ivcap_client.models.order_status_rt_status import OrderStatusRTStatus
from ivcap_client.models.parameter_t import ParameterT
from ivcap_client.models.partial_meta_list_t import PartialMetaListT
from ivcap_client.models.partial_product_list_t import PartialProductListT
from ivcap_client.models.resource_not_found_t import ResourceNotFoundT
from starlette.applications import Starlette

from gateway.sim.ivcap import create_ivcap_sim
from tests.support.credentials import SIM_TOKEN as TOKEN
from tests.support.credentials import WRONG_TOKEN
from tests.support.servers import running_server

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim() -> Starlette:
    return create_ivcap_sim(orders=500, seed=3, token=TOKEN, clock=lambda: NOW)


@pytest.fixture(scope="module")
def sim_url(sim: Starlette) -> Iterator[str]:
    with running_server(sim) as url:
        yield url


@pytest.fixture
def client(sim_url: str) -> Iterator[AuthenticatedClient]:
    with AuthenticatedClient(base_url=sim_url, token=TOKEN) as client:
        yield client


@pytest.fixture
def ivcap(sim_url: str) -> Iterator[IVCAP]:
    """The client's high-level entry point; its own HTTP client closed afterwards."""
    ivcap = IVCAP(url=sim_url, token=TOKEN)
    with ivcap._client:
        yield ivcap


def a_succeeded_order(sim: Starlette) -> str:
    return next(o.id for o in sim.state.store if o.status_at(NOW) == "succeeded" and len(o.products) > 1)


def test_order_list_returns_one_parsed_page(client: AuthenticatedClient) -> None:
    response = order_list.sync_detailed(client=client, limit=3)
    page = response.parsed
    assert response.status_code == 200 and isinstance(page, OrderListRT)
    assert len(page.items) == 3 and page.at_time == NOW
    assert {link.rel for link in page.links} == {"self", "first", "next"}
    for item in page.items:
        assert item.additional_properties == {}  # every key has its kebab-case name (§8)
        assert isinstance(item.ordered_at, datetime) and isinstance(item.status, OrderListItemStatus)


def test_the_clients_own_iterator_walks_every_order_once(ivcap: IVCAP, sim: Starlette) -> None:
    walked = [order.id for order in ivcap.list_orders(limit=None)]  # order-desc=false, pages of 50
    expected = [o.id for o in sorted(sim.state.store, key=lambda o: (o.ordered_at, o.id))]
    assert walked == expected and len(walked) == 500
    failed = list(ivcap.list_orders(filter="status eq 'failed'", order_desc=True, limit=None))
    assert len(failed) == sum(1 for o in sim.state.store if o.status_at(NOW) == "failed") > 0
    assert [o.status(refresh=False) for o in failed[:3]] == ["failed"] * 3


def test_order_read_takes_a_urn_and_parses_products(client: AuthenticatedClient, sim: Starlette) -> None:
    urn = a_succeeded_order(sim)
    response = order_read.sync_detailed(id=urn, client=client)
    order = response.parsed
    assert response.status_code == 200 and isinstance(order, OrderStatusRT)
    assert order.id == urn and order.status is OrderStatusRTStatus.SUCCEEDED
    assert order.additional_properties == {} and order.finished_at is not None
    assert len(order.products.items) == len(sim.state.store.get(urn).products)
    assert all(p.data_href.startswith(client._base_url) for p in order.products.items)


def test_order_create_answers_200_with_the_order(client: AuthenticatedClient, sim: Starlette) -> None:
    service = sim.state.store.services[1].id
    body = OrderRequestT(
        service=service,
        parameters=[ParameterT(name="catchment", value="Lower Creek")],
        name="Flood model for Lot 2",
    )
    response = order_create.sync_detailed(client=client, body=body)
    created = response.parsed
    assert response.status_code == 200 and isinstance(created, OrderStatusRT)
    assert created.status is OrderStatusRTStatus.PENDING and created.service == service
    assert order_read.sync_detailed(id=created.id, client=client).status_code == 200


def test_products_and_metadata_of_an_order(client: AuthenticatedClient, sim: Starlette) -> None:
    urn = a_succeeded_order(sim)
    products = order_products.sync_detailed(urn, client=client, limit=1).parsed
    assert isinstance(products, PartialProductListT) and len(products.items) == 1
    assert "next" in {link.rel for link in products.links}
    metadata = order_metadata.sync_detailed(urn, client=client).parsed
    assert isinstance(metadata, PartialMetaListT)
    assert {item.schema for item in metadata.items} >= {"urn:ivcap:schema:order-placed.1"}


def test_aspects_are_added_to_and_listed_for_an_order(
    ivcap: IVCAP, client: AuthenticatedClient, sim: Starlette
) -> None:
    urn = a_succeeded_order(sim)
    added = ivcap.add_aspect(entity=urn, aspect={"checked": True}, schema="urn:example:schema:review.1")
    assert added.id.startswith("urn:ivcap:aspect:")
    listed = list(ivcap.list_aspects(entity=urn, limit=None))
    assert added.id in {aspect.id for aspect in listed}
    assert next(a for a in listed if a.id == added.id).aspect["checked"] is True
    page = aspect_list.sync_detailed(
        client=client, entity=urn, schema="urn:example:schema:review%", include_content=True
    )
    assert page.status_code == 200 and [item.id for item in page.parsed.items] == [added.id]
    metadata = order_metadata.sync_detailed(urn, client=client).parsed
    assert added.id in {item.id for item in metadata.items}


def test_a_wrong_token_is_401_without_a_body(sim_url: str) -> None:
    with AuthenticatedClient(base_url=sim_url, token=WRONG_TOKEN) as client:
        response = order_list.sync_detailed(client=client)
    assert response.status_code == 401 and response.parsed is None and response.content == b""


def test_typed_errors_parse_as_the_clients_models(client: AuthenticatedClient) -> None:
    missing = order_read.sync_detailed(
        id="urn:ivcap:order:00000000-0000-4000-8000-000000000000", client=client
    )
    assert missing.status_code == 404 and isinstance(missing.parsed, ResourceNotFoundT)
    assert missing.parsed.id == "urn:ivcap:order:00000000-0000-4000-8000-000000000000"
    too_many = order_list.sync_detailed(client=client, limit=51)
    assert too_many.status_code == 422 and isinstance(too_many.parsed, InvalidParameterT)
    assert too_many.parsed.name == "limit"
    malformed = order_list.sync_detailed(client=client, filter_="status is 'failed'")
    assert malformed.status_code == 400 and isinstance(malformed.parsed, BadRequestT)


def test_injected_faults_parse_too(client: AuthenticatedClient, sim_url: str) -> None:
    httpx.post(f"{sim_url}/__sim__/faults", json={"status": 400, "count": 1}).raise_for_status()
    response = order_list.sync_detailed(client=client)
    assert response.status_code == 400 and isinstance(response.parsed, BadRequestT)
    httpx.post(f"{sim_url}/__sim__/faults", json={"status": 503, "count": 1}).raise_for_status()
    assert order_list.sync_detailed(client=client).status_code == 503
    assert order_list.sync_detailed(client=client).status_code == 200
