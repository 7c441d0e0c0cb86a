"""One listing over different kinds of upstream: every sort and filter walks losslessly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from gateway.sim.arrow import create_arrow_sim
from gateway.sim.ivcap import create_ivcap_sim
from gateway.sim.waldur import create_waldur_sim
from tests.support.stack import SIM_TOKEN, HostRouter, auth, gateway_client, gateway_settings

SIMULATORS: dict[str, tuple[Callable[[], Any], dict[str, Any]]] = {
    "waldur": (
        lambda: create_waldur_sim(orders=70, seed=21, token=SIM_TOKEN),
        {"kind": "waldur", "base_url": "http://waldur.sim/api/", "token": SIM_TOKEN},
    ),
    "ivcap": (
        lambda: create_ivcap_sim(orders=60, seed=23, token=SIM_TOKEN),
        {"kind": "ivcap", "base_url": "http://ivcap.sim/1/", "token": SIM_TOKEN},
    ),
    "ivcap-legacy": (
        lambda: create_ivcap_sim(orders=40, seed=24, token=SIM_TOKEN, dialect="legacy"),
        {"kind": "ivcap", "base_url": "http://ivcap-legacy.sim/1/", "token": SIM_TOKEN, "dialect": "legacy"},
    ),
    "arrow": (
        lambda: create_arrow_sim(orders=80, seed=22, token=SIM_TOKEN),
        {
            "kind": "arrow",
            "base_url": "http://arrow.sim/index.php/api/",
            "api_key": SIM_TOKEN,
            "timezone": "Europe/Paris",
        },
    ),
}
TOTAL = 250


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    sims = {f"{name}.sim": build() for name, (build, _) in SIMULATORS.items()}
    settings = gateway_settings({name: cfg for name, (_, cfg) in SIMULATORS.items()})
    async with (
        httpx.AsyncClient(transport=HostRouter(sims)) as upstream,
        gateway_client(settings, upstream) as gw,
    ):
        yield gw


async def walk(client: httpx.AsyncClient, params: dict[str, str]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(300):
        response = await client.get(
            "/orders", params={**params, **({"cursor": cursor} if cursor else {})}, headers=auth("reader")
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "x-partial-response" not in response.headers, body["providers"]
        seen.extend(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("walk did not end")


def key(order: dict[str, Any], field: str) -> tuple[datetime, str]:
    return (datetime.fromisoformat(order[field] or order["created_at"]), order["id"])


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "updated_at", "-updated_at"])
async def test_every_sort_returns_everything_once_in_order(client: httpx.AsyncClient, sort: str) -> None:
    orders = await walk(client, {"limit": "13", "sort": sort})
    assert len(orders) == TOTAL and len({o["id"] for o in orders}) == TOTAL
    assert {o["provider_kind"] for o in orders} == {"waldur", "ivcap", "arrow"}
    keys = [key(o, sort.lstrip("-")) for o in orders]
    assert keys == sorted(keys, reverse=sort.startswith("-"))


async def test_filters_across_kinds_match_the_oracle(client: httpx.AsyncClient) -> None:
    everything = await walk(client, {"limit": "200"})
    arrow = next(o for o in everything if o["provider_kind"] == "arrow")
    middle = sorted(o["created_at"] for o in everything)[TOTAL // 2]
    cases: list[tuple[dict[str, str], Callable[[dict[str, Any]], bool]]] = [
        ({"status": "in_progress"}, lambda o: o["status"] == "in_progress"),
        (
            {"customer": arrow["customer"]["id"]},
            lambda o: o["customer"] is not None and o["customer"]["id"] == arrow["customer"]["id"],
        ),
        ({"created_after": middle}, lambda o: o["created_at"] >= middle),
        ({"created_before": middle}, lambda o: o["created_at"] < middle),
        ({"updated_after": middle}, lambda o: (o["updated_at"] or o["created_at"]) >= middle),
        (
            {"provider_status": arrow["provider_status"]},
            lambda o: o["provider_status"] == arrow["provider_status"],
        ),
    ]
    for params, predicate in cases:
        for sort in ("-created_at", "created_at"):
            got = [o["id"] for o in await walk(client, {**params, "limit": "11", "sort": sort})]
            expected = [
                o["id"]
                for o in sorted(everything, key=lambda o: key(o, "created_at"), reverse=sort.startswith("-"))
                if predicate(o)
            ]
            assert got == expected, (params, sort)
            assert expected, params
