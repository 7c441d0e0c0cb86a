"""Per-key rate limits through HTTP (API.md §9): RateLimit headers on every answer, 429."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.settings import Settings
from gateway.sim.waldur import create_waldur_sim
from tests.support.credentials import UNKNOWN_KEY
from tests.support.stack import KEYS, SIM_TOKEN, HostRouter, auth, gateway_settings, waldur_instance

BASE = "https://errors.order-gateway.dev/"
RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Gateway:
    client: httpx.AsyncClient
    app: Starlette
    clock: Clock


def api_keys(overrides: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The test keys of ``tests.support.stack``, some with their own ``rate_limit``."""
    return [
        {"name": name, "sha256": hashlib.sha256(key.encode()).hexdigest(), "scopes": scopes}
        | ({"providers": allowed} if allowed else {})
        | ({"rate_limit": overrides[name]} if name in overrides else {})
        for name, (key, scopes, allowed) in KEYS.items()
    ]


@asynccontextmanager
async def running_gateway(settings: Settings, upstream: httpx.AsyncClient) -> AsyncIterator[Gateway]:
    """Like ``tests.support.stack.gateway_client``, with the app and its clock at hand."""
    clock = Clock()
    app = create_app(settings, client=upstream, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield Gateway(client, app, clock)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    sims = {"eu.waldur.sim": create_waldur_sim(orders=10, seed=31, token=SIM_TOKEN)}
    settings = gateway_settings(
        {"waldur-eu": waldur_instance("eu.waldur.sim", timeout_s=1)},
        rate_limit={"requests": 3, "window_s": 60},
        api_keys=api_keys({"ops": {"requests": 100, "window_s": 10, "burst": 120}}),
    )
    async with (
        httpx.AsyncClient(transport=HostRouter(sims)) as upstream,
        running_gateway(settings, upstream) as gw,
    ):
        yield gw


def rate_headers(response: httpx.Response) -> dict[str, str]:
    return {name: response.headers[name] for name in RATE_HEADERS if name in response.headers}


async def test_a_success_carries_the_ratelimit_headers(gateway: Gateway) -> None:
    response = await gateway.client.get("/orders", params={"limit": "1"}, headers=auth("reader"))
    assert response.status_code == 200
    assert rate_headers(response) == {
        "ratelimit-limit": "3",
        "ratelimit-remaining": "2",
        "ratelimit-reset": "20",  # one token short, at 3 per 60 s
        "ratelimit-policy": "3;w=60",
    }


async def test_errors_and_304_carry_the_headers_too(gateway: Gateway) -> None:
    ops = auth("ops")
    page = await gateway.client.get("/orders", params={"limit": "1"}, headers=ops)
    order_id = page.json()["data"][0]["id"]
    first = await gateway.client.get(f"/orders/{order_id}", headers=ops)
    not_modified = await gateway.client.get(
        f"/orders/{order_id}", headers={**ops, "If-None-Match": first.headers["etag"]}
    )
    missing = await gateway.client.get("/orders/waldur-eu:" + "0" * 32, headers=ops)
    invalid = await gateway.client.post(
        "/orders", content=b"[1, 2]", headers={**ops, "Content-Type": "application/json"}
    )
    unknown_route = await gateway.client.get("/nowhere", headers=ops)
    answers = [page, first, not_modified, missing, invalid, unknown_route]
    assert [a.status_code for a in answers] == [200, 200, 304, 404, 422, 404]
    # The key's own policy (100 per 10 s, bursts of 120), one token per answer.
    assert [a.headers["ratelimit-remaining"] for a in answers] == ["119", "118", "117", "116", "115", "114"]
    for answer in answers:
        assert answer.headers["ratelimit-limit"] == "120"
        assert answer.headers["ratelimit-policy"] == "120;w=10"
        assert int(answer.headers["ratelimit-reset"]) >= 1


async def test_anonymous_and_bad_key_requests_are_not_limited_and_get_no_headers(gateway: Gateway) -> None:
    for _ in range(5):  # more than any bucket holds
        anonymous = await gateway.client.get("/orders")
        assert anonymous.status_code == 401 and rate_headers(anonymous) == {}
    bad_key = await gateway.client.get("/orders", headers={"Authorization": f"Bearer {UNKNOWN_KEY}"})
    assert bad_key.status_code == 401 and rate_headers(bad_key) == {}
    health = await gateway.client.get("/healthz")
    assert health.status_code == 200 and rate_headers(health) == {}


async def test_the_request_past_capacity_is_a_429_problem_with_retry_after(gateway: Gateway) -> None:
    reader = auth("reader")
    for remaining in ("2", "1", "0"):
        response = await gateway.client.get("/healthz", headers=reader)
        assert response.status_code == 200 and response.headers["ratelimit-remaining"] == remaining
    refused = await gateway.client.get("/orders", headers=reader)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "20"
    assert rate_headers(refused) == {
        "ratelimit-limit": "3",
        "ratelimit-remaining": "0",
        "ratelimit-reset": "60",
        "ratelimit-policy": "3;w=60",
    }
    problem = refused.json()
    assert problem["type"] == BASE + "rate-limited" and problem["status"] == 429
    assert problem["instance"] == refused.headers["x-request-id"]
    # Other keys have buckets of their own.
    other = await gateway.client.get("/healthz", headers=auth("writer"))
    assert other.status_code == 200 and other.headers["ratelimit-remaining"] == "2"


async def test_tokens_come_back_over_time(gateway: Gateway) -> None:
    reader = auth("reader")
    for _ in range(3):
        await gateway.client.get("/healthz", headers=reader)
    assert (await gateway.client.get("/healthz", headers=reader)).status_code == 429
    gateway.clock.now += 20  # one token at 3 per 60 s
    again = await gateway.client.get("/healthz", headers=reader)
    assert again.status_code == 200 and again.headers["ratelimit-remaining"] == "0"
    gateway.clock.now += 600  # long enough to fill up; never past capacity
    full = await gateway.client.get("/healthz", headers=reader)
    assert full.headers["ratelimit-remaining"] == "2"


async def test_the_limiter_is_on_app_state_and_not_degraded_without_redis(gateway: Gateway) -> None:
    assert gateway.app.state.limiter.degraded is False
