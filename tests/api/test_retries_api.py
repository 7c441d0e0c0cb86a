"""Retries of upstream calls and the request deadline, through HTTP, with faults at a simulator.

Every instance here has ``cache.ttl_s: 0``, so each read reaches the simulator and its
request counts are exact.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.sim.waldur import create_waldur_sim
from tests.support.stack import SIM_TOKEN, HostRouter, auth, gateway_client, gateway_settings, waldur_instance

BASE = "https://errors.order-gateway.dev/"
HOST = "w.sim"
LIST = "GET /api/marketplace-orders/"
ORDERS_PATH = "/api/marketplace-orders/"
FAST_RETRY = {"attempts": 3, "base_delay_s": 0.01, "max_delay_s": 0.05, "retry_after_cap_s": 0.2}


@dataclass
class Rig:
    client: httpx.AsyncClient
    upstream: httpx.AsyncClient

    async def fault(self, **plan: object) -> None:
        response = await self.upstream.post(f"http://{HOST}/__sim__/faults", json=plan)
        assert response.status_code == 200, response.text

    async def seen(self) -> dict[str, int]:
        """Requests the simulator saw since the last reset, by ``METHOD /path``."""
        counts: dict[str, int] = (await self.upstream.get(f"http://{HOST}/__sim__/requests")).json()[
            "by_route"
        ]
        return counts

    async def reset(self) -> None:
        await self.upstream.delete(f"http://{HOST}/__sim__/requests")

    async def posts(self) -> int:
        return sum(n for route, n in (await self.seen()).items() if route.startswith("POST "))


@asynccontextmanager
async def rig(
    *,
    retry: dict[str, Any] | None = None,
    timeout_s: float = 2,
    request_timeout_s: float = 3,
    wrap: Any = None,
    orders: int = 8,
) -> AsyncIterator[Rig]:
    sim: ASGIApp = create_waldur_sim(orders=orders, seed=61, token=SIM_TOKEN)
    if wrap is not None:
        sim = wrap(sim)
    instance = waldur_instance(HOST, timeout_s=timeout_s, retry=retry or FAST_RETRY, cache={"ttl_s": 0})
    settings = gateway_settings({"waldur": instance}, server={"request_timeout_s": request_timeout_s})
    async with (
        httpx.AsyncClient(transport=HostRouter({HOST: sim})) as upstream,
        gateway_client(settings, upstream) as client,
    ):
        yield Rig(client, upstream)


async def list_orders(r: Rig, **headers: str) -> httpx.Response:
    return await r.client.get("/orders", params={"limit": "50"}, headers={**auth("ops"), **headers})


async def some_order_id(r: Rig) -> str:
    response = await list_orders(r)
    assert response.status_code == 200, response.text
    order_id: str = response.json()["data"][0]["id"]
    await r.reset()
    return order_id


def problem_type(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/problem+json", response.text
    kind: str = response.json()["type"]
    return kind.removeprefix(BASE)


# --- reads -------------------------------------------------------------------------------


async def test_a_listing_is_retried_after_503s_and_answers_200() -> None:
    async with rig() as r:
        assert (await list_orders(r)).status_code == 200
        assert (await r.seen())[LIST] == 1  # one upstream call answers this page
        await r.reset()
        await r.fault(status=503, count=2, path=ORDERS_PATH)
        response = await list_orders(r)
        assert response.status_code == 200, response.text
        assert "x-partial-response" not in response.headers
        assert len(response.json()["data"]) == 8
        assert (await r.seen())[LIST] == 3


async def test_a_listing_is_not_retried_with_one_attempt() -> None:
    async with rig(retry={**FAST_RETRY, "attempts": 1}) as r:
        await r.fault(status=503, count=2, path=ORDERS_PATH)
        response = await list_orders(r)
        assert response.status_code == 502 and problem_type(response) == "all-upstreams-failed"
        assert (await r.seen())[LIST] == 1


async def test_retry_after_of_a_429_is_waited_for() -> None:
    async with rig(retry={**FAST_RETRY, "retry_after_cap_s": 5}) as r:
        await r.fault(status=429, retry_after=1, count=1, path=ORDERS_PATH)
        start = time.monotonic()
        response = await list_orders(r)
        elapsed = time.monotonic() - start
        assert response.status_code == 200, response.text
        assert elapsed >= 1.0
        assert (await r.seen())[LIST] == 2


async def test_retry_after_is_capped() -> None:
    async with rig() as r:  # retry_after_cap_s 0.2
        await r.fault(status=429, retry_after=100, count=1, path=ORDERS_PATH)
        start = time.monotonic()
        response = await list_orders(r)
        elapsed = time.monotonic() - start
        assert response.status_code == 200, response.text
        assert 0.2 <= elapsed < 1.5
        assert (await r.seen())[LIST] == 2


@pytest.mark.parametrize(
    ("status", "answer", "kind"), [(500, 502, "upstream-bad-response"), (404, 404, "order-not-found")]
)
async def test_other_statuses_are_never_retried(status: int, answer: int, kind: str) -> None:
    async with rig() as r:
        order_id = await some_order_id(r)
        await r.fault(status=status, count=3, path=ORDERS_PATH)
        response = await r.client.get(f"/orders/{order_id}", headers=auth("ops"))
        assert response.status_code == answer and problem_type(response) == kind
        assert sum((await r.seen()).values()) == 1


async def test_a_read_timeout_is_not_retried() -> None:
    async with rig(timeout_s=0.3) as r:
        order_id = await some_order_id(r)
        await r.fault(latency_ms=1000, count=3, path=ORDERS_PATH)
        response = await r.client.get(f"/orders/{order_id}", headers=auth("ops"))
        assert response.status_code == 504 and problem_type(response) == "upstream-timeout"
        assert sum((await r.seen()).values()) == 1


# --- the deadline and Request-Timeout ---------------------------------------------------


async def test_retries_stop_at_the_deadline_and_the_503_is_answered_as_usual() -> None:
    async with rig(retry={**FAST_RETRY, "retry_after_cap_s": 5}) as r:
        order_id = await some_order_id(r)
        await r.fault(status=503, retry_after=5, count=5, path=ORDERS_PATH)
        start = time.monotonic()
        response = await r.client.get(
            f"/orders/{order_id}", headers={**auth("ops"), "Request-Timeout": "0.5"}
        )
        elapsed = time.monotonic() - start
        assert response.status_code == 502 and problem_type(response) == "upstream-bad-response"
        assert response.json()["upstream_status"] == 503
        assert elapsed < 0.55  # the 0.5 s deadline, and a little to answer
        assert sum((await r.seen()).values()) == 1  # a 5 s wait would pass the deadline: not retried


async def test_backoff_never_runs_past_the_deadline() -> None:
    slow = {"attempts": 10, "base_delay_s": 0.2, "max_delay_s": 0.2, "retry_after_cap_s": 0}
    async with rig(retry=slow) as r:
        await r.fault(status=503, count=10, path=ORDERS_PATH)
        start = time.monotonic()
        response = await list_orders(r, **{"Request-Timeout": "0.5"})
        elapsed = time.monotonic() - start
        # The retries stopped in time to answer with the last 503, not with a timeout.
        assert response.status_code == 502 and problem_type(response) == "all-upstreams-failed"
        assert elapsed < 0.55  # the 0.5 s deadline, and a little to answer
        assert 2 <= (await r.seen())[LIST] < 10


@pytest.mark.parametrize(
    "value", ["", " ", "0", "-1", "0.0", "abc", "nan", "inf", "1e3", "+2", "2s", "0x10", "1" * 200]
)
async def test_an_invalid_request_timeout_is_a_400_problem(value: str) -> None:
    async with rig() as r:
        response = await list_orders(r, **{"Request-Timeout": value, "X-Request-ID": "rt-1"})
        assert response.status_code == 400 and problem_type(response) == "invalid-header"
        body = response.json()
        assert body["header"] == "Request-Timeout" and body["instance"] == "rt-1"
        assert response.headers["x-request-id"] == "rt-1"
        assert await r.seen() == {}  # refused before any upstream call


@pytest.mark.parametrize("value", ["2", "2.5", "2.", "300"])
async def test_a_valid_request_timeout_is_accepted(value: str) -> None:
    # Budgets of seconds: a sub-second one may run out on a loaded machine (that is a 504,
    # shown by the shortening tests below), and this test is about the value being accepted.
    async with rig() as r:
        assert (await list_orders(r, **{"Request-Timeout": value})).status_code == 200


async def test_a_request_timeout_shortens_the_upstream_budget() -> None:
    async with rig() as r:  # timeout_s 2, request_timeout_s 3
        order_id = await some_order_id(r)
        await r.fault(latency_ms=1000, count=1, path=ORDERS_PATH)
        start = time.monotonic()
        response = await r.client.get(
            f"/orders/{order_id}", headers={**auth("ops"), "Request-Timeout": "0.3"}
        )
        elapsed = time.monotonic() - start
        assert response.status_code == 504 and problem_type(response) == "upstream-timeout"
        assert elapsed < 0.7


async def test_the_server_timeout_bounds_a_request_without_the_header() -> None:
    async with rig(timeout_s=2, request_timeout_s=0.4) as r:
        order_id = await some_order_id(r)
        await r.fault(latency_ms=1000, count=1, path=ORDERS_PATH)
        start = time.monotonic()
        response = await r.client.get(f"/orders/{order_id}", headers=auth("ops"))
        assert response.status_code == 504 and time.monotonic() - start < 0.8


# --- writes ----------------------------------------------------------------------------


async def create_body(r: Rig) -> dict[str, Any]:
    """A valid Waldur create body, built from an order the simulator already has."""
    orders = (await list_orders(r)).json()["data"]
    sample = next(o for o in orders if o["extra"].get("project_uuid"))
    await r.reset()
    return {
        "provider": "waldur",
        "name": "retry-test-vm",
        "service": sample["service"]["id"],
        "customer": sample["extra"]["project_uuid"],
        "items": [
            {"id": item["name"], "quantity": item["quantity"]}
            for item in sample["items"]
            if ":" in item["id"]
        ],
        "provider_options": {"plan": sample["extra"]["plan_uuid"]}
        if sample["extra"].get("plan_uuid")
        else {},
    }


async def created_orders(r: Rig) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = (await list_orders(r)).json()["data"]
    return [o for o in orders if o["name"] == "retry-test-vm"]


async def test_an_unkeyed_create_is_never_retried() -> None:
    async with rig() as r:
        body = await create_body(r)
        await r.fault(status=503, count=3, path=ORDERS_PATH)
        response = await r.client.post("/orders", json=body, headers=auth("ops"))
        assert response.status_code == 502, response.text
        assert await r.posts() == 1


async def test_an_unkeyed_action_is_never_retried() -> None:
    async with rig() as r:
        order_id = await some_order_id(r)
        await r.fault(status=503, count=3, path=ORDERS_PATH)
        response = await r.client.post(f"/orders/{order_id}/cancel", headers=auth("ops"))
        assert response.status_code == 502, response.text
        assert await r.posts() == 1


async def test_a_keyed_create_after_a_503_looks_for_the_order_then_creates_it_once() -> None:
    async with rig() as r:
        body = await create_body(r)
        await r.fault(status=503, count=1, path=ORDERS_PATH)
        headers = {**auth("ops"), "Idempotency-Key": "keyed-create-1"}
        response = await r.client.post("/orders", json=body, headers=headers)
        assert response.status_code == 201, response.text
        seen = await r.seen()
        assert seen["POST /api/marketplace-orders/"] == 2
        assert seen[LIST] == 1  # the look-up by marker, before the second create
        assert [o["id"] for o in await created_orders(r)] == [response.json()["id"]]


class LoseFirstCreateAnswer:
    """Lets the first create through to the simulator, then answers the gateway 502 instead
    of the 201: the order exists upstream, but the gateway cannot know it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.lost = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.lost or scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        self.lost = True

        async def swallow(message: Message) -> None:
            pass

        await self.app(scope, receive, swallow)
        await send({"type": "http.response.start", "status": 502, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def test_a_keyed_create_whose_answer_was_lost_finds_the_order_instead_of_creating_again() -> None:
    async with rig(wrap=LoseFirstCreateAnswer) as r:
        body = await create_body(r)
        headers = {**auth("ops"), "Idempotency-Key": "keyed-create-2"}
        response = await r.client.post("/orders", json=body, headers=headers)
        assert response.status_code == 201, response.text
        assert (await r.seen())["POST /api/marketplace-orders/"] == 1
        assert [o["id"] for o in await created_orders(r)] == [response.json()["id"]]


async def test_a_keyed_create_is_not_retried_after_a_timeout() -> None:
    async with rig(timeout_s=0.3) as r:
        body = await create_body(r)
        await r.fault(latency_ms=1000, count=1, path=ORDERS_PATH)
        headers = {**auth("ops"), "Idempotency-Key": "keyed-create-3"}
        response = await r.client.post("/orders", json=body, headers=headers)
        assert response.status_code == 504 and response.json()["outcome"] == "uncertain"
        assert await r.posts() == 1


async def test_a_keyed_action_is_retried_only_when_the_upstream_did_not_process_it() -> None:
    async with rig() as r:
        order_id = await some_order_id(r)
        await r.fault(status=503, count=1, path=ORDERS_PATH)
        headers = {**auth("ops"), "Idempotency-Key": "keyed-action-1"}
        response = await r.client.post(f"/orders/{order_id}/cancel", headers=headers)
        assert response.status_code not in (502, 503), response.text  # the second try's answer
        assert await r.posts() == 2

        await r.reset()
        await r.fault(status=502, count=1, path=ORDERS_PATH)
        headers = {**auth("ops"), "Idempotency-Key": "keyed-action-2"}
        response = await r.client.post(f"/orders/{order_id}/cancel", headers=headers)
        assert response.status_code == 502, response.text  # a 502 may hide a processed write
        assert await r.posts() == 1
