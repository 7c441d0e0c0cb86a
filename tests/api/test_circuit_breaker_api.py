"""Circuit breakers through HTTP: open after failures, 503 without calling, half-open probe,
close again; the other instance keeps answering; the state shows in /providers and /readyz."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.sim.waldur import create_waldur_sim
from tests.api.conftest import Deployment
from tests.support.stack import SIM_TOKEN, HostRouter, auth, gateway_client, gateway_settings, waldur_instance

EU, AU = "eu.waldur.sim", "au.waldur.sim"
OPEN_S = 0.3


@pytest.fixture
async def deployment() -> AsyncIterator[Deployment]:
    sims = {
        EU: create_waldur_sim(orders=20, seed=41, token=SIM_TOKEN),
        AU: create_waldur_sim(orders=20, seed=42, token=SIM_TOKEN),
    }
    options = {
        "cache": {"ttl_s": 0},  # every read reaches the breaker
        "retry": {"attempts": 1},
        "breaker": {"min_calls": 3, "failure_rate": 0.6, "window_s": 30, "open_s": OPEN_S},
    }
    settings = gateway_settings(
        {"waldur-eu": waldur_instance(EU, **options), "waldur-au": waldur_instance(AU, **options)}
    )
    upstream = httpx.AsyncClient(transport=HostRouter(sims))
    async with upstream, gateway_client(settings, upstream) as client:
        yield Deployment(client, sims, upstream)


async def trip(deployment: Deployment) -> None:
    await deployment.fault(EU, status=500, count=3)
    for _ in range(3):
        assert (await deployment.orders(provider="waldur-eu", limit="3")).status_code == 502


async def test_the_breaker_opens_and_answers_503_without_calling(deployment: Deployment) -> None:
    await trip(deployment)
    calls = await deployment.calls(EU)
    refused = await deployment.orders(provider="waldur-eu", limit="3")
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/circuit-open") and refused.json()["provider"] == "waldur-eu"
    assert refused.headers["retry-after"] == "1"
    order_id = "waldur-eu:" + "0" * 32
    assert (await deployment.client.get(f"/orders/{order_id}", headers=auth("reader"))).status_code == 503
    assert await deployment.calls(EU) == calls


async def test_other_instances_still_answer_and_the_page_is_partial(deployment: Deployment) -> None:
    await trip(deployment)
    page = await deployment.client.get("/orders", params={"limit": "5"}, headers=auth("reader"))
    assert page.status_code == 200 and page.headers["x-partial-response"] == "true"
    providers = page.json()["providers"]
    assert providers["waldur-eu"]["error"]["type"].endswith("/circuit-open")
    assert providers["waldur-au"]["status"] == "ok"


async def test_state_shows_in_providers_and_readyz(deployment: Deployment) -> None:
    listed = (await deployment.client.get("/providers", headers=auth("reader"))).json()["data"]
    assert {p["name"]: p["health"]["circuit"] for p in listed} == {
        "waldur-au": "closed",
        "waldur-eu": "closed",
    }
    await trip(deployment)
    listed = (await deployment.client.get("/providers", headers=auth("reader"))).json()["data"]
    assert {p["name"]: p["health"]["circuit"] for p in listed} == {"waldur-au": "closed", "waldur-eu": "open"}
    ready = await deployment.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["circuits"] == {"open": 1, "half-open": 0}


async def test_a_good_probe_closes_and_a_bad_one_reopens(deployment: Deployment) -> None:
    await trip(deployment)
    await asyncio.sleep(OPEN_S + 0.05)  # half-open: the next call is a probe
    await deployment.fault(EU, status=500, count=1)
    assert (await deployment.orders(provider="waldur-eu", limit="3")).status_code == 502  # the probe failed
    calls = await deployment.calls(EU)
    assert (
        await deployment.orders(provider="waldur-eu", limit="3")
    ).status_code == 503  # open again, not called
    assert await deployment.calls(EU) == calls
    await asyncio.sleep(OPEN_S + 0.05)
    assert (
        await deployment.orders(provider="waldur-eu", limit="3")
    ).status_code == 200  # the probe passed: closed
    assert (await deployment.orders(provider="waldur-eu", limit="3")).status_code == 200
    listed = (await deployment.client.get("/providers", headers=auth("reader"))).json()["data"]
    assert {p["name"]: p["health"]["circuit"] for p in listed}["waldur-eu"] == "closed"


async def test_client_errors_do_not_open_the_breaker(deployment: Deployment) -> None:
    for _ in range(5):
        missing = await deployment.client.get("/orders/waldur-eu:" + "0" * 32, headers=auth("reader"))
        assert missing.status_code == 404
    assert (await deployment.orders(provider="waldur-eu", limit="3")).status_code == 200
