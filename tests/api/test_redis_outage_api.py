"""Redis going away mid-run: rate limits fall back to local buckets, keyed writes fail closed;\nand a write that ran is answered even when its idempotency record cannot be stored."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.errors import StoreUnavailableError
from gateway.idempotency import IdempotencyRecord, MemoryIdempotencyStore
from gateway.sim.arrow import create_arrow_sim
from tests.api.test_rate_limit_api import Gateway, running_gateway
from tests.support.redis_server import RestartableRedis, restartable_redis
from tests.support.stack import SIM_TOKEN, HostRouter, auth, gateway_settings

BASE = "https://errors.order-gateway.dev/"


async def create_body(gateway: Gateway) -> dict[str, Any]:
    page = await gateway.client.get("/orders", params={"limit": "50"}, headers=auth("ops"))
    assert page.status_code == 200, page.text
    sample = next(o for o in page.json()["data"] if o["items"])
    return {
        "provider": "arrow",
        "customer": sample["customer"]["id"],
        "items": [{"sku": sample["items"][0]["id"], "quantity": 1}],
    }


async def test_rate_limits_fall_back_and_keyed_writes_fail_closed_while_redis_is_down(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.ratelimit")
    sim = create_arrow_sim(orders=20, seed=61, token=SIM_TOKEN)
    store = sim.state.store
    with restartable_redis(tmp_path) as redis:
        settings = gateway_settings(
            {"arrow": {"kind": "arrow", "base_url": "http://arrow.sim/index.php/api/", "api_key": SIM_TOKEN}},
            cache={"backend": "redis", "url": redis.url},
            rate_limit={"requests": 50, "window_s": 60},
        )
        async with (
            httpx.AsyncClient(transport=HostRouter({"arrow.sim": sim})) as upstream,
            running_gateway(settings, upstream) as gateway,
        ):
            await _outage(gateway, redis, await create_body(gateway), store)
    levels = [r.levelno for r in caplog.records if r.name == "gateway.ratelimit"]
    assert levels == [logging.WARNING, logging.INFO]  # one line when it goes, one when it is back


async def _outage(gateway: Gateway, redis: RestartableRedis, body: dict[str, Any], store: Any) -> None:
    limiter = gateway.app.state.limiter
    ops = auth("ops")
    shared = await gateway.client.get("/healthz", headers=ops)
    assert shared.headers["ratelimit-remaining"] == "48"  # the listing in create_body took one
    assert not limiter.degraded

    redis.kill()
    for _ in range(5):  # answered, never a 500, still with headers (from local buckets)
        response = await gateway.client.get("/orders", params={"limit": "2"}, headers=ops)
        assert response.status_code == 200, response.text
        assert response.headers["ratelimit-limit"] == "50"
    assert limiter.degraded

    before = len(store)
    keyed = await gateway.client.post("/orders", json=body, headers={**ops, "Idempotency-Key": "outage-1"})
    assert keyed.status_code == 503, keyed.text
    assert keyed.json()["type"] == BASE + "store-unavailable"
    assert keyed.headers["retry-after"] == "1"
    assert keyed.headers["content-type"] == "application/problem+json"
    assert "ratelimit-remaining" in keyed.headers
    assert len(store) == before  # fails closed: nothing was created upstream
    unkeyed = await gateway.client.post("/orders", json=body, headers=ops)
    assert unkeyed.status_code == 201, unkeyed.text
    assert len(store) == before + 1

    redis.start()
    gateway.clock.now += 2  # past the cooldown: the next request tries Redis again
    back = await gateway.client.get("/healthz", headers=ops)
    assert back.status_code == 200 and not limiter.degraded
    assert back.headers["ratelimit-remaining"] == "49"  # a fresh Redis: a fresh shared bucket
    keyed_again = await gateway.client.post(
        "/orders", json=body, headers={**ops, "Idempotency-Key": "outage-1"}
    )
    assert keyed_again.status_code == 201 and len(store) == before + 2


class StoreFailsAfterClaim(MemoryIdempotencyStore):
    """Claims work; everything after the operation finds the store gone."""

    async def put(self, key: str, record: IdempotencyRecord, ttl_s: int) -> None:
        raise StoreUnavailableError()

    async def release(self, key: str) -> None:
        raise StoreUnavailableError()


@dataclass
class FlakyStore:
    gateway: Gateway
    sim: Starlette
    upstream: httpx.AsyncClient


@pytest.fixture
async def flaky() -> AsyncIterator[FlakyStore]:
    sim = create_arrow_sim(orders=20, seed=62, token=SIM_TOKEN)
    settings = gateway_settings(
        {"arrow": {"kind": "arrow", "base_url": "http://arrow.sim/index.php/api/", "api_key": SIM_TOKEN}}
    )
    async with (
        httpx.AsyncClient(transport=HostRouter({"arrow.sim": sim})) as upstream,
        running_gateway(settings, upstream) as gateway,
    ):
        gateway.app.state.idempotency = StoreFailsAfterClaim()
        yield FlakyStore(gateway, sim, upstream)


async def test_a_write_that_happened_is_answered_even_when_its_record_cannot_be_stored(
    flaky: FlakyStore, caplog: pytest.LogCaptureFixture
) -> None:
    body = await create_body(flaky.gateway)
    store = flaky.sim.state.store
    before = len(store)
    headers = {**auth("ops"), "Idempotency-Key": "stored-nowhere"}
    created = await flaky.gateway.client.post("/orders", json=body, headers=headers)
    assert created.status_code == 201, created.text  # the truth: the order exists
    assert len(store) == before + 1
    assert any(r.levelno == logging.ERROR and "not stored" in r.getMessage() for r in caplog.records)
    # The claim stays: a retry is told to wait, not run a second create.
    retry = await flaky.gateway.client.post("/orders", json=body, headers=headers)
    assert retry.status_code == 409 and retry.json()["type"] == BASE + "request-in-progress"
    assert len(store) == before + 1


async def test_an_upstream_failure_is_reported_as_itself_when_the_key_cannot_be_released(
    flaky: FlakyStore,
) -> None:
    body = await create_body(flaky.gateway)
    armed = await flaky.upstream.post("http://arrow.sim/__sim__/faults", json={"status": 401, "count": 1})
    assert armed.status_code in (200, 201)
    headers = {**auth("ops"), "Idempotency-Key": "released-nowhere"}
    failed = await flaky.gateway.client.post("/orders", json=body, headers=headers)
    assert failed.status_code == 502 and failed.json()["type"] == BASE + "upstream-auth"
