"""GET /orders/export through HTTP: the cursor walk as one NDJSON stream, and how it ends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.app import create_app
from gateway.sim.waldur import create_waldur_sim
from tests.api.conftest import Deployment
from tests.api.test_orders_api import walk
from tests.support.stack import SIM_TOKEN, HostRouter, auth, gateway_settings, waldur_instance


async def export(client: httpx.AsyncClient, key: str = "reader", **params: str) -> httpx.Response:
    return await client.get("/orders/export", params=params, headers=auth(key))


def lines_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.text.endswith("\n")
    return [json.loads(line) for line in response.text.splitlines()]


async def test_export_streams_the_whole_cursor_walk_one_order_a_line(deployment: Deployment) -> None:
    response = await export(deployment.client)
    assert response.headers["cache-control"] == "private, no-store"
    assert lines_of(response) == await walk(deployment, {"limit": "7"})


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "created_at", "status": "completed,pending"},
        {"provider": "waldur-au", "sort": "-updated_at"},
        {"q": "a", "created_after": "2025-01-01T00:00:00Z"},
    ],
    ids=["ascending-by-status", "one-instance", "text-and-time"],
)
async def test_export_applies_the_listing_filters_and_sort(
    deployment: Deployment, params: dict[str, str]
) -> None:
    expected = await walk(deployment, {**params, "limit": "9"})
    assert expected
    assert lines_of(await export(deployment.client, **params)) == expected


async def test_export_goes_on_from_a_listing_cursor(deployment: Deployment) -> None:
    first = (await deployment.orders(limit="10", sort="created_at")).json()
    rest = lines_of(await export(deployment.client, sort="created_at", cursor=first["next_cursor"]))
    assert first["data"] + rest == await walk(deployment, {"limit": "50", "sort": "created_at"})


@pytest.mark.parametrize(
    ("key", "params", "status", "slug"),
    [
        (None, {}, 401, "not-authenticated"),
        ("writer", {}, 403, "missing-scope"),
        ("reader", {"limit": "5"}, 400, "invalid-query"),
        ("reader", {"require": "any"}, 400, "invalid-query"),
        ("reader", {"status": "lost"}, 400, "invalid-query"),
        ("reader", {"cursor": "forged.cursor"}, 400, "invalid-cursor"),
    ],
)
async def test_a_refused_export_is_an_ordinary_problem(
    deployment: Deployment, key: str | None, params: dict[str, str], status: int, slug: str
) -> None:
    headers = auth(key) if key else {}
    response = await deployment.client.get("/orders/export", params=params, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/" + slug)


async def test_an_instance_failing_before_the_first_line_is_an_error_status_not_a_200(
    deployment: Deployment,
) -> None:
    await deployment.fault("au.waldur.sim", status=500, count=10)
    response = await export(deployment.client)
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["provider"] == "waldur-au"


# --- more than one page ---------------------------------------------------------------------


@dataclass
class StreamDeployment(Deployment):
    spy: ChunkSpy


@asynccontextmanager
async def streaming(eu: int, au: int, *, timeout_s: float = 3) -> AsyncIterator[StreamDeployment]:
    """Two Waldur instances with ``eu`` and ``au`` orders, behind a gateway that lets each
    request take ``timeout_s``; the app is wrapped in a ChunkSpy."""
    sims = {
        "eu.waldur.sim": create_waldur_sim(orders=eu, seed=21, token=SIM_TOKEN),
        "au.waldur.sim": create_waldur_sim(orders=au, seed=22, token=SIM_TOKEN),
    }
    upstream = httpx.AsyncClient(transport=HostRouter(sims))
    settings = gateway_settings(
        {"waldur-eu": waldur_instance("eu.waldur.sim"), "waldur-au": waldur_instance("au.waldur.sim")},
        server={"request_timeout_s": timeout_s},
    )
    app = create_app(settings, client=upstream)
    spy = ChunkSpy(app)
    async with upstream, app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=spy, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield StreamDeployment(client, sims, upstream, spy)


class ChunkSpy:
    """Awaits ``on_first_chunk`` once the first body chunk of a response is sent: a test's hook
    into the middle of a stream (httpx's ASGI transport hands over the body only at the end)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.on_first_chunk: Callable[[], Awaitable[None]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = False

        async def spying(message: Message) -> None:
            nonlocal sent
            await send(message)
            if message["type"] == "http.response.body" and message.get("body") and not sent:
                sent = True
                if self.on_first_chunk is not None:
                    await self.on_first_chunk()

        await self.app(scope, receive, spying)


async def test_an_instance_failing_mid_stream_ends_it_with_a_problem_and_a_cursor_to_resume() -> None:
    async with streaming(150, 130) as big:  # two pages of 200
        await _fail_mid_stream_and_resume(big)


async def _fail_mid_stream_and_resume(big: StreamDeployment) -> None:
    async def break_eu() -> None:
        await big.fault("eu.waldur.sim", status=500, count=3)

    big.spy.on_first_chunk = break_eu
    broken = lines_of(await export(big.client))
    big.spy.on_first_chunk = None
    *orders, last = broken
    assert len(orders) == 200 and "id" not in last
    assert last["error"]["status"] == 502 and last["error"]["provider"] == "waldur-eu"
    assert last["error"]["trace_id"] and last["error"]["instance"]
    assert last["error"]["type"] == "https://errors.order-gateway.dev/upstream-bad-response"
    await big.upstream.delete("http://eu.waldur.sim/__sim__/faults")

    rest = lines_of(await export(big.client, cursor=last["next_cursor"]))
    everything = await walk(big, {"limit": "200"})
    assert len(everything) == 280
    assert orders + rest == everything


async def test_an_export_may_outlast_the_request_timeout_each_page_gets_it_anew() -> None:
    # A slow reader: the second page is fetched after the request's own 2 s have passed (a
    # budget a busy machine's page fetch still fits in).
    async with streaming(150, 130, timeout_s=2.0) as big:

        async def read_slowly() -> None:
            await asyncio.sleep(2.2)

        big.spy.on_first_chunk = read_slowly
        orders = lines_of(await export(big.client))
        big.spy.on_first_chunk = None
        assert [o.get("id") for o in orders] == [o["id"] for o in await walk(big, {"limit": "200"})]
