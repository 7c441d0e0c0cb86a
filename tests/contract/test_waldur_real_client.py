"""The simulated Waldur, served by real uvicorn, driven by the real ``waldur-api-client``."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import httpx
import pytest
from dateutil.parser import isoparse
from starlette.applications import Starlette
from waldur_api_client import AuthenticatedClient, errors
from waldur_api_client.api.marketplace_orders import (
    marketplace_orders_count,
    marketplace_orders_list,
    marketplace_orders_retrieve,
)
from waldur_api_client.models.order_details import OrderDetails
from waldur_api_client.models.order_details_field_enum import OrderDetailsFieldEnum
from waldur_api_client.models.order_details_o_enum import OrderDetailsOEnum
from waldur_api_client.models.order_state import OrderState
from waldur_api_client.types import UNSET

from gateway.sim.waldur import create_waldur_sim
from tests.support.credentials import SIM_TOKEN as TOKEN
from tests.support.credentials import WRONG_TOKEN
from tests.support.servers import running_server
from tests.support.waldur_fields import NULLABLE_DATETIMES

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim() -> Starlette:
    return create_waldur_sim(orders=500, seed=3, token=TOKEN, clock=lambda: NOW)


@pytest.fixture(scope="module")
def sim_url(sim: Starlette) -> Iterator[str]:
    with running_server(sim) as url:
        yield url


@pytest.fixture
def client(sim_url: str) -> Iterator[AuthenticatedClient]:
    with AuthenticatedClient(base_url=sim_url, token=TOKEN) as client:
        yield client


def test_list_returns_one_filtered_page(client: AuthenticatedClient) -> None:
    orders = marketplace_orders_list.sync(client=client, state=[OrderState.DONE], page_size=20)
    assert len(orders) == 20
    assert {order.state for order in orders} == {OrderState.DONE}


def test_sync_all_returns_every_order_exactly_once(client: AuthenticatedClient, sim: Starlette) -> None:
    orders = marketplace_orders_list.sync_all(client=client)
    walked = [str(order.uuid).replace("-", "") for order in orders]
    assert len(walked) == len(set(walked)) == len(orders)
    assert set(walked) == {order.uuid for order in sim.state.store}
    assert marketplace_orders_count.sync(client=client) == len(orders) == 500


def test_filtered_ordered_walk_matches_the_count(client: AuthenticatedClient) -> None:
    states = [OrderState.DONE, OrderState.PENDING_CONSUMER]
    since = datetime(2024, 1, 1, tzinfo=UTC)  # sent as +00:00, percent-encoded
    orders = marketplace_orders_list.sync_all(
        client=client, state=states, created=since, o=[OrderDetailsOEnum.VALUE_2]
    )
    count = marketplace_orders_count.sync(client=client, state=states, created=since)
    assert len(orders) == count > 100  # more than one page of the client's 100
    assert {order.state for order in orders} <= set(states)
    created = [order.created for order in orders]
    assert all(isinstance(moment, datetime) and moment >= since for moment in created)
    assert created == sorted(created, reverse=True)


def test_retrieve_returns_the_order_and_honours_field(client: AuthenticatedClient, sim: Starlette) -> None:
    stored = next(iter(sim.state.store))
    order = marketplace_orders_retrieve.sync(UUID(stored.uuid), client=client)
    assert order.uuid == UUID(stored.uuid)
    assert order.state == OrderState(stored.state)
    trimmed = marketplace_orders_retrieve.sync(
        UUID(stored.uuid),
        client=client,
        field=[OrderDetailsFieldEnum.UUID, OrderDetailsFieldEnum.STATE],
    )
    assert trimmed.uuid == UUID(stored.uuid)
    assert trimmed.cost is UNSET
    assert trimmed.created is UNSET


def test_retrieve_of_an_unknown_order_raises_404(client: AuthenticatedClient) -> None:
    with pytest.raises(errors.UnexpectedStatus) as caught:
        marketplace_orders_retrieve.sync(uuid4(), client=client)
    assert caught.value.status_code == 404


def test_bad_token_raises_401(sim_url: str) -> None:
    with AuthenticatedClient(base_url=sim_url, token=WRONG_TOKEN) as client:
        with pytest.raises(errors.UnexpectedStatus) as listing:
            marketplace_orders_list.sync(client=client)
        with pytest.raises(errors.UnexpectedStatus) as counting:
            marketplace_orders_count.sync(client=client)
    assert listing.value.status_code == counting.value.status_code == 401
    assert b"Invalid token." in listing.value.content


def test_injected_failure_reaches_the_client_as_unexpected_status(
    client: AuthenticatedClient, sim_url: str
) -> None:
    httpx.post(f"{sim_url}/__sim__/faults", json={"status": 503, "count": 1}).raise_for_status()
    with pytest.raises(errors.UnexpectedStatus) as caught:
        marketplace_orders_count.sync(client=client)
    assert caught.value.status_code == 503
    assert marketplace_orders_count.sync(client=client) == 500


def test_every_emitted_body_parses_and_nullable_datetimes_are_iso(sim_url: str) -> None:
    headers = {"Authorization": f"Token {TOKEN}"}
    with httpx.Client(base_url=sim_url, headers=headers) as http:
        bodies = []
        for page in (1, 2):
            response = http.get("/api/marketplace-orders/", params={"page_size": 300, "page": page})
            bodies += response.json()
        bodies.append(http.get(f"/api/marketplace-orders/{bodies[0]['uuid']}/").json())
    assert len(bodies) == 501
    host = urlsplit(sim_url).netloc
    for body in bodies:
        order = OrderDetails.from_dict(body)
        assert order.additional_properties == {}
        assert isinstance(order.created, datetime) and order.created.tzinfo is not None
        assert urlsplit(body["url"]).netloc == host
        for name in NULLABLE_DATETIMES:
            if body[name] is not None:
                assert isoparse(body[name]).tzinfo is not None


def test_running_server_stops_listening_on_exit() -> None:
    app = create_waldur_sim(orders=5, token=TOKEN, clock=lambda: NOW)
    with running_server(app) as url:
        assert httpx.get(f"{url}/__sim__/faults").status_code == 200
        port = urlsplit(url).port
    assert port is not None
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass
