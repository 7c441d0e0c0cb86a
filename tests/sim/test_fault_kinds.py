"""The simulators' fault kinds beyond status/malformed/drop: ``wrong_shape``, ``html``,
``huge_mb`` and ``content_type`` (gateway/sim/faults.py), on any simulator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.sim.faults import HTML_BODY, MIB, WRONG_SHAPE_BODY, FaultPlan
from gateway.sim.waldur import create_waldur_sim
from tests.support.credentials import SIM_TOKEN as TOKEN

ORDERS = "/api/marketplace-orders/"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_waldur_sim(orders=5, seed=1, token=TOKEN)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://sim", headers={"Authorization": f"Token {TOKEN}"}
    ) as http:
        yield http


async def arm(client: httpx.AsyncClient, **plan: object) -> None:
    response = await client.post("/__sim__/faults", json=plan)
    assert response.status_code == 200, response.text


async def test_wrong_shape_is_valid_json_no_endpoint_answers(client: httpx.AsyncClient) -> None:
    await arm(client, wrong_shape=True)
    response = await client.get(ORDERS)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.content == WRONG_SHAPE_BODY and isinstance(response.json(), list)
    assert (await client.get(ORDERS)).json()[0].get("uuid")  # count 1: then the real answer


async def test_html_is_a_page_where_json_was_expected(client: httpx.AsyncClient) -> None:
    await arm(client, html=True)
    response = await client.get(ORDERS)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert response.content == HTML_BODY


async def test_content_type_relabels_the_real_answer_or_an_injected_one(client: httpx.AsyncClient) -> None:
    await arm(client, content_type="text/plain")
    relabelled = await client.get(ORDERS)
    assert relabelled.headers["content-type"] == "text/plain" and relabelled.json()[0]["uuid"]
    await arm(client, status=503, content_type="text/html")
    failed = await client.get(ORDERS)
    assert failed.status_code == 503 and failed.headers["content-type"] == "text/html"


async def test_huge_is_that_many_mib_of_valid_json_without_a_length(client: httpx.AsyncClient) -> None:
    await arm(client, huge_mb=2)
    response = await client.get(ORDERS)
    assert response.status_code == 200 and "content-length" not in response.headers
    assert 2 * MIB - 64 * 1024 <= len(response.content) <= 2 * MIB
    assert len(json.loads(response.content)) > 10_000


@pytest.mark.parametrize(
    "plan",
    [
        {"wrong_shape": True, "html": True},
        {"huge_mb": 1, "status": 500},
        {"malformed": True, "wrong_shape": True},
        {"huge_mb": 0},
        {"content_type": "text/html\r\nX-Injected: 1"},
        {},
    ],
)
def test_inconsistent_plans_are_refused(plan: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FaultPlan.model_validate(plan)


def test_a_content_type_alone_is_a_plan() -> None:
    assert FaultPlan.model_validate({"content_type": "text/plain"}).content_type == "text/plain"
