"""A walk of 2,000+ orders across the three real simulators over HTTP, against an oracle."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.merge import matches, sort_orders
from gateway.models import Order
from gateway.query import parse_order_query
from gateway.sim.arrow import create_arrow_sim
from gateway.sim.ivcap import create_ivcap_sim
from gateway.sim.waldur import create_waldur_sim
from tests.support.servers import running_server
from tests.support.stack import SIM_TOKEN, auth, gateway_settings, read_every_order

pytestmark = pytest.mark.e2e
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # a fixed clock: IVCAP's orders hold still


def clock() -> datetime:
    return NOW


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[str, dict[str, dict[str, Any]]]]:
    with (
        running_server(create_waldur_sim(orders=800, seed=31, token=SIM_TOKEN, clock=clock)) as waldur,
        running_server(create_ivcap_sim(orders=700, seed=32, token=SIM_TOKEN, clock=clock)) as ivcap,
        running_server(create_arrow_sim(orders=700, seed=33, token=SIM_TOKEN, clock=clock)) as arrow,
    ):
        providers = {
            "waldur": {"kind": "waldur", "base_url": f"{waldur}/api/", "token": SIM_TOKEN},
            "ivcap": {"kind": "ivcap", "base_url": f"{ivcap}/1/", "token": SIM_TOKEN},
            "arrow": {"kind": "arrow", "base_url": f"{arrow}/index.php/api/", "api_key": SIM_TOKEN},
        }
        with running_server(create_app(gateway_settings(providers))) as gateway:
            yield gateway, providers


@pytest.fixture(scope="module")
def everything(stack: tuple[str, dict[str, dict[str, Any]]]) -> list[Order]:
    """Every order of every upstream, read straight through its adapter."""
    return asyncio.run(read_every_order(stack[1]))


def oracle(everything: list[Order], params: list[tuple[str, str]]) -> list[str]:
    """The brute-force answer: filter and sort the union of all upstream data."""
    query = parse_order_query(params)
    return [o.id for o in sort_orders((o for o in everything if matches(o, query.filters)), query.sort)]


def walk(gateway: str, params: list[tuple[str, str]], on_page: Any = None) -> tuple[list[str], int]:
    ids: list[str] = []
    partial_pages = 0
    cursor = None
    with httpx.Client(base_url=gateway, headers=auth("reader"), timeout=30) as client:
        for number in range(2000):
            if on_page:
                on_page(number)
            response = client.get("/orders", params=params + ([("cursor", cursor)] if cursor else []))
            assert response.status_code == 200, response.text
            partial_pages += response.headers.get("x-partial-response") == "true"
            body = response.json()
            ids.extend(o["id"] for o in body["data"])
            cursor = body["next_cursor"]
            if cursor is None:
                return ids, partial_pages
    raise AssertionError("the walk did not end")


def test_walk_of_2200_orders_in_pages_of_7_matches_the_oracle(
    stack: tuple[str, dict[str, dict[str, Any]]], everything: list[Order]
) -> None:
    ids, partial = walk(stack[0], [("limit", "7")])
    assert partial == 0
    assert len(ids) == 2200
    assert ids == oracle(everything, [("limit", "7")])


@pytest.mark.parametrize(
    "params",
    [
        [("limit", "50"), ("sort", "created_at"), ("status", "completed,failed")],
        [("limit", "31"), ("created_after", "2026-01-01T00:00:00Z"), ("q", "a")],
    ],
    ids=["ascending-by-status", "recent-text"],
)
def test_filtered_walks_match_the_oracle(
    stack: tuple[str, dict[str, dict[str, Any]]], everything: list[Order], params: list[tuple[str, str]]
) -> None:
    ids, _ = walk(stack[0], params)
    expected = oracle(everything, params)
    assert expected and ids == expected


def test_an_instance_failing_mid_walk_is_resumed_and_nothing_is_skipped(
    stack: tuple[str, dict[str, dict[str, Any]]], everything: list[Order]
) -> None:
    gateway, providers = stack
    arrow = providers["arrow"]["base_url"].removesuffix("/index.php/api/")

    def inject(number: int) -> None:
        if number == 20:
            assert httpx.post(f"{arrow}/__sim__/faults", json={"status": 503, "count": 8}).status_code == 200
        if number == 40:
            httpx.delete(f"{arrow}/__sim__/faults")

    params = [("limit", "25")]
    ids, partial = walk(gateway, params, on_page=inject)
    assert partial >= 1
    assert len(ids) == len(set(ids)) == 2200
    assert set(ids) == set(oracle(everything, params))
