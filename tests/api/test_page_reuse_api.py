"""A listing page answered from the read cache is reused while its cache entries stand: not
walked and merged again, yet never older than those entries, per caller, with a new cursor."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.service import OrderService
from gateway.sim.waldur import create_waldur_sim
from tests.api.conftest import Deployment
from tests.support.stack import SIM_TOKEN, HostRouter, auth, gateway_client, gateway_settings, waldur_instance

EU, AU = "eu.waldur.sim", "au.waldur.sim"


@pytest.fixture
async def cached() -> AsyncIterator[Deployment]:
    import httpx

    sims = {
        EU: create_waldur_sim(orders=40, seed=41, token=SIM_TOKEN),
        AU: create_waldur_sim(orders=25, seed=42, token=SIM_TOKEN),
    }
    upstream = httpx.AsyncClient(transport=HostRouter(sims))
    options: dict[str, Any] = {"cache": {"ttl_s": 30}, "retry": {"attempts": 1}, "timeout_s": 2}
    settings = gateway_settings(
        {"waldur-eu": waldur_instance(EU, **options), "waldur-au": waldur_instance(AU, **options)},
        server={"request_timeout_s": 5},
    )
    async with upstream, gateway_client(settings, upstream) as client:
        yield Deployment(client, sims, upstream)


def no_walking(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, a listing the service would build again fails the test."""

    async def refuse(*args: object) -> None:
        raise AssertionError("the page was walked and merged again")

    monkeypatch.setattr(OrderService, "_fill", refuse)


def issued_at(cursor: str) -> int:
    payload = cursor.split(".")[0]
    return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["t"])


async def test_a_repeated_listing_is_reused_and_its_cursor_still_leads_on(
    cached: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await cached.orders(limit="10")
    assert first.headers["x-cache"] == "MISS"
    calls = await cached.calls(EU) + await cached.calls(AU)
    no_walking(monkeypatch)
    again = await cached.orders(limit="10")
    assert again.status_code == 200 and again.headers["x-cache"] == "HIT"
    assert again.json()["data"] == first.json()["data"]
    assert again.headers["etag"] == first.headers["etag"]
    assert {p["source"] for p in again.json()["providers"].values()} == {"cache"}
    assert await cached.calls(EU) + await cached.calls(AU) == calls
    cursor = again.json()["next_cursor"]
    assert issued_at(cursor) >= issued_at(first.json()["next_cursor"])
    monkeypatch.undo()  # the next page is another query: walked as usual
    following = await cached.orders(limit="10", cursor=cursor)
    assert following.status_code == 200
    seen = {o["id"] for o in first.json()["data"]}
    assert following.json()["data"] and not seen & {o["id"] for o in following.json()["data"]}


async def test_a_refill_with_newer_answers_ends_the_reuse(cached: Deployment) -> None:
    operable = (await cached.orders(auth("ops"), provider="waldur-eu", limit="40")).json()["data"]
    target_id = next(o["id"] for o in operable if "cancel" in o["actions"])
    listing = (await cached.orders(provider="waldur-eu", limit="40")).json()["data"]
    target = next(o for o in listing if o["id"] == target_id)
    assert (await cached.orders(provider="waldur-eu", limit="40")).headers["x-cache"] == "HIT"
    # The order changes upstream, behind the gateway's back (another system's write).
    native = target["id"].split(":", 1)[1]
    changed = await cached.upstream.post(
        f"http://{EU}/api/marketplace-orders/{native}/cancel/",
        headers={"Authorization": f"Token {SIM_TOKEN}"},
    )
    assert changed.status_code in (200, 202), changed.text
    cached_copy = await cached.orders(provider="waldur-eu", limit="40")
    assert next(o for o in cached_copy.json()["data"] if o["id"] == target["id"]) == target  # within TTL
    # A writer refetches (Cache-Control: no-cache): the entries the reader's page came from
    # are replaced, so the reader's next request is built from the new ones.
    refreshed = await cached.orders(
        {**auth("ops"), "Cache-Control": "no-cache"}, provider="waldur-eu", limit="40"
    )
    assert refreshed.headers["cache-status"].startswith("OrderGateway; fwd=request; stored")
    after = await cached.orders(provider="waldur-eu", limit="40")
    mine = next(o for o in after.json()["data"] if o["id"] == target["id"])
    assert mine["status"] != target["status"] and mine["status"] == "cancelled"


async def test_each_caller_gets_its_own_page(cached: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    def actions(response: Any) -> set[str]:
        return {a for o in response.json()["data"] for a in o["actions"]}

    reader = await cached.orders(limit="30")
    ops = await cached.orders(auth("ops"), limit="30")
    assert [o["id"] for o in reader.json()["data"]] == [o["id"] for o in ops.json()["data"]]
    assert actions(reader) < actions(ops)  # a read-only key sees only read actions
    no_walking(monkeypatch)
    assert actions(await cached.orders(limit="30")) == actions(reader)
    assert actions(await cached.orders(auth("ops"), limit="30")) == actions(ops)


async def test_a_cached_order_is_narrowed_for_each_caller_every_time(cached: Deployment) -> None:
    listing = (await cached.orders(auth("ops"), provider="waldur-eu", limit="40")).json()["data"]
    target = next(o for o in listing if "cancel" in o["actions"])["id"]
    answers = {}
    for _ in range(2):
        for who in ("reader", "ops", "reader"):
            got = await cached.client.get(f"/orders/{target}", headers=auth(who))
            assert got.status_code == 200
            answers.setdefault(who, set()).add((got.headers["etag"], tuple(got.json()["actions"])))
    assert len(answers["reader"]) == 1 and len(answers["ops"]) == 1  # one answer per caller
    (reader_etag, reader_actions), (ops_etag, ops_actions) = answers["reader"].pop(), answers["ops"].pop()
    assert "cancel" in ops_actions and "cancel" not in reader_actions and reader_etag != ops_etag
