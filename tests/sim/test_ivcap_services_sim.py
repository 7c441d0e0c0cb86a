"""The simulated IVCAP's ``GET /1/services/{id}`` (the shape ``servicex_read`` reads), through HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette

from gateway.sim.ivcap import create_ivcap_sim
from tests.support.credentials import SIM_TOKEN as TOKEN

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
BASE = "http://testserver"


def client_for(app: Starlette, token: str | None = TOKEN) -> httpx.AsyncClient:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE, headers=headers)


@pytest.fixture(scope="module")
def sim() -> Starlette:
    return create_ivcap_sim(orders=10, seed=2, token=TOKEN, clock=lambda: NOW)


@pytest.fixture
async def client(sim: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sim) as client:
        yield client


async def test_a_service_reads_as_x_service_status_rt(client: httpx.AsyncClient, sim: Starlette) -> None:
    service = sim.state.store.services[1]
    response = await client.get(
        f"/1/services/{quote(service.id, safe='')}"
    )  # percent-encoded, as the client does
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"id", "name", "description", "status", "account", "tags", "parameters", "links"}
    assert (body["id"], body["name"], body["status"]) == (service.id, service.name, "active")
    assert body["account"] == sim.state.store.accounts[0].id
    assert body["links"] == [
        {"rel": "self", "href": f"{BASE}/1/services/{service.id}", "type": "application/json"}
    ]
    for parameter, (name, values) in zip(body["parameters"], service.parameters, strict=True):
        assert {"name", "type", "description"} <= set(parameter)  # ParameterDefT's required keys
        assert parameter["name"] == name and [o["value"] for o in parameter["options"]] == list(values)


async def test_an_unknown_service_is_a_typed_404(client: httpx.AsyncClient) -> None:
    missing = "urn:ivcap:service:00000000-0000-4000-8000-000000000000"
    response = await client.get(f"/1/services/{quote(missing, safe='')}")
    assert response.status_code == 404 and response.json() == {"id": missing, "message": "service not found"}
    nested = await client.get(f"/1/services/{quote(missing, safe='')}/jobs")
    assert nested.status_code == 404


async def test_services_want_the_token_and_exist_only_in_the_current_dialect(sim: Starlette) -> None:
    service = sim.state.store.services[0].id
    async with client_for(sim, token=None) as anonymous:
        refused = await anonymous.get(f"/1/services/{service}")
    assert refused.status_code == 401 and refused.content == b""
    legacy = create_ivcap_sim(orders=10, seed=2, token=TOKEN, clock=lambda: NOW, dialect="legacy")
    async with client_for(legacy) as client:
        assert (await client.get(f"/1/services/{service}")).status_code == 404
