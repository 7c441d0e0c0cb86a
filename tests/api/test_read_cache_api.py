"""The read cache through HTTP: hits and misses, headers, TTLs, stale-if-error, refetch on
``no-cache``, one upstream call for many concurrent misses, and writes that win races."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.sim.waldur import create_waldur_sim
from tests.api.conftest import Deployment
from tests.support.stack import SIM_TOKEN, HostRouter, auth, gateway_client, gateway_settings, waldur_instance

EU, AU = "eu.waldur.sim", "au.waldur.sim"
NO_RETRY = {"attempts": 1}


async def deploy(**cache: Any) -> AsyncIterator[Deployment]:
    sims = {
        EU: create_waldur_sim(orders=40, seed=31, token=SIM_TOKEN),
        AU: create_waldur_sim(orders=25, seed=32, token=SIM_TOKEN),
    }
    upstream = httpx.AsyncClient(transport=HostRouter(sims))
    options = {"cache": {"ttl_s": 30, "stale_if_error_s": 60} | cache, "retry": NO_RETRY, "timeout_s": 2}
    settings = gateway_settings(
        {"waldur-eu": waldur_instance(EU, **options), "waldur-au": waldur_instance(AU, **options)},
        server={"request_timeout_s": 5},
    )
    async with upstream, gateway_client(settings, upstream) as client:
        yield Deployment(client, sims, upstream)


@pytest.fixture
async def cached() -> AsyncIterator[Deployment]:
    async for deployment in deploy():
        yield deployment


@pytest.fixture
async def short_lived() -> AsyncIterator[Deployment]:
    async for deployment in deploy(ttl_s=0.2, stale_if_error_s=0.6):
        yield deployment


async def test_a_listing_misses_then_hits_without_calling_the_upstream(cached: Deployment) -> None:
    first = await cached.orders(provider="waldur-eu", limit="10")
    assert first.status_code == 200
    assert first.headers["x-cache"] == "MISS"
    assert first.headers["cache-status"].startswith("OrderGateway; fwd=uri-miss; stored; ttl=")
    assert first.json()["providers"]["waldur-eu"]["source"] == "upstream"
    calls = await cached.calls(EU)
    second = await cached.orders(provider="waldur-eu", limit="10")
    assert await cached.calls(EU) == calls
    assert second.headers["x-cache"] == "HIT"
    assert second.headers["cache-status"].startswith("OrderGateway; hit; ttl=")
    max_age = int(second.headers["cache-control"].removeprefix("private, max-age="))
    assert 0 < max_age <= 30
    assert second.json()["providers"]["waldur-eu"]["source"] == "cache"
    assert second.json()["data"] == first.json()["data"]


async def test_another_query_is_another_key(cached: Deployment) -> None:
    await cached.orders(provider="waldur-eu", limit="10")
    calls = await cached.calls(EU)
    other = await cached.orders(provider="waldur-eu", limit="10", status="pending")
    assert other.headers["x-cache"] == "MISS" and await cached.calls(EU) > calls


async def test_an_order_misses_then_hits_and_a_304_says_so(cached: Deployment) -> None:
    order = (await cached.orders(provider="waldur-au", limit="1")).json()["data"][0]
    first = await cached.client.get(f"/orders/{order['id']}", headers=auth("reader"))
    assert first.headers["x-cache"] == "MISS"
    calls = await cached.calls(AU)
    again = await cached.client.get(
        f"/orders/{order['id']}", headers={**auth("reader"), "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304 and again.headers["x-cache"] == "HIT"
    assert again.headers["cache-control"].startswith("private, max-age=")
    assert await cached.calls(AU) == calls


async def test_entries_expire_after_their_ttl(short_lived: Deployment) -> None:
    await short_lived.orders(provider="waldur-eu", limit="5")
    assert (await short_lived.orders(provider="waldur-eu", limit="5")).headers["x-cache"] == "HIT"
    await asyncio.sleep(0.25)
    calls = await short_lived.calls(EU)
    expired = await short_lived.orders(provider="waldur-eu", limit="5")
    assert expired.headers["x-cache"] == "MISS" and await short_lived.calls(EU) == calls + 1


async def test_a_failing_upstream_is_answered_stale_within_stale_if_error(short_lived: Deployment) -> None:
    fresh = await short_lived.orders(provider="waldur-eu", limit="5")
    await asyncio.sleep(0.25)  # past the TTL, within stale-if-error
    await short_lived.fault(EU, status=503, count=1)
    stale = await short_lived.orders(provider="waldur-eu", limit="5")
    assert stale.status_code == 200, stale.text
    assert stale.headers["x-cache"] == "STALE"
    assert "detail=stale-if-error" in stale.headers["cache-status"]
    assert stale.headers["cache-control"] == "private, no-cache"
    assert stale.json()["providers"]["waldur-eu"] == stale.json()["providers"]["waldur-eu"] | {
        "status": "ok",
        "source": "stale",
    }
    assert stale.json()["data"] == fresh.json()["data"]
    await asyncio.sleep(0.6)  # past stale-if-error too: the failure shows
    await short_lived.fault(EU, status=503, count=1)
    failed = await short_lived.orders(provider="waldur-eu", limit="5")
    assert failed.status_code == 502


async def test_no_cache_refetches_for_a_writer_but_not_for_a_reader(cached: Deployment) -> None:
    await cached.orders(provider="waldur-eu", limit="5")
    calls = await cached.calls(EU)
    as_reader = await cached.orders(
        {**auth("reader"), "Cache-Control": "no-cache"}, provider="waldur-eu", limit="5"
    )
    assert as_reader.headers["x-cache"] == "HIT" and await cached.calls(EU) == calls
    as_writer = await cached.orders(
        {**auth("editor"), "Cache-Control": "no-cache"}, provider="waldur-eu", limit="5"
    )
    assert as_writer.headers["x-cache"] == "MISS"
    assert as_writer.headers["cache-status"].startswith("OrderGateway; fwd=request; stored")
    assert await cached.calls(EU) == calls + 1
    # What the writer fetched is stored for everyone.
    assert (await cached.orders(provider="waldur-eu", limit="5")).headers["x-cache"] == "HIT"


async def test_a_hundred_concurrent_misses_make_one_upstream_call(cached: Deployment) -> None:
    await cached.fault(EU, latency_ms=200, count=1000)
    calls = await cached.calls(EU)
    answers = await asyncio.gather(*(cached.orders(provider="waldur-eu", limit="10") for _ in range(100)))
    assert {a.status_code for a in answers} == {200}
    assert len({str(a.json()["data"]) for a in answers}) == 1
    assert await cached.calls(EU) == calls + 1
    sources = [a.headers["cache-status"] for a in answers]
    assert sum("collapsed" in s for s in sources) == 99


async def test_a_partial_answer_never_stands_in_for_a_full_one(cached: Deployment) -> None:
    await cached.fault(AU, status=503, count=1)
    partial = await cached.orders(limit="50")
    assert partial.headers["x-partial-response"] == "true"
    assert partial.json()["providers"]["waldur-au"]["status"] == "error"
    full = await cached.orders(limit="50")
    assert "x-partial-response" not in full.headers
    providers = full.json()["providers"]
    assert providers["waldur-eu"]["source"] == "cache" and providers["waldur-au"]["source"] == "upstream"
    assert {o["provider"] for o in full.json()["data"]} == {"waldur-eu", "waldur-au"}


async def test_a_write_evicts_and_the_next_read_shows_it(cached: Deployment) -> None:
    listing = (await cached.orders(auth("ops"), provider="waldur-eu", limit="40")).json()["data"]
    target = next(o for o in listing if "cancel" in o["actions"])
    before = await cached.client.get(f"/orders/{target['id']}", headers=auth("ops"))
    assert (await cached.client.get(f"/orders/{target['id']}", headers=auth("ops"))).headers[
        "x-cache"
    ] == "HIT"
    cancelled = await cached.client.post(f"/orders/{target['id']}/cancel", headers=auth("ops"))
    assert cancelled.status_code == 200
    after = await cached.client.get(f"/orders/{target['id']}", headers=auth("ops"))
    assert after.headers["x-cache"] == "MISS" and after.json() != before.json()
    relisted = await cached.orders(auth("ops"), provider="waldur-eu", limit="40")
    assert relisted.headers["x-cache"] == "MISS"


async def test_a_read_in_flight_during_a_write_is_not_stored(cached: Deployment) -> None:
    listing = (await cached.orders(auth("ops"), provider="waldur-eu", limit="40")).json()["data"]
    target = next(o for o in listing if "cancel" in o["actions"])
    await cached.fault(EU, latency_ms=300, count=1, path="/api/marketplace-orders/")

    reading = asyncio.create_task(
        cached.orders({**auth("ops"), "Cache-Control": "no-cache"}, provider="waldur-eu", limit="40")
    )
    await asyncio.sleep(0.1)  # the read is waiting on the upstream
    cancelled = await cached.client.post(f"/orders/{target['id']}/cancel", headers=auth("ops"))
    assert cancelled.status_code == 200
    assert (await reading).status_code == 200
    # The read may carry the order as it was before the cancel; it must not have been kept.
    after = await cached.orders(auth("ops"), provider="waldur-eu", limit="40")
    assert after.headers["x-cache"] == "MISS"
    mine = next(o for o in after.json()["data"] if o["id"] == target["id"])
    assert mine["status"] == cancelled.json()["status"]
