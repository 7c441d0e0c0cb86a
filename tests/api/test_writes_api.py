"""Writes through HTTP against the three simulators: create, actions, scopes, idempotency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.sim.arrow import create_arrow_sim
from gateway.sim.ivcap import create_ivcap_sim
from gateway.sim.waldur import create_waldur_sim
from tests.support.stack import SIM_TOKEN, HostRouter, auth, gateway_client, gateway_settings

BASE = "https://errors.order-gateway.dev/"


@dataclass
class Writes:
    client: httpx.AsyncClient
    upstream: httpx.AsyncClient
    sims: dict[str, Starlette]

    async def first(self, provider: str, **params: str) -> dict[str, Any]:
        response = await self.client.get(
            "/orders", params={"provider": provider, "limit": "200", **params}, headers=auth("ops")
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def count(self, host: str) -> int:
        return len(self.sims[host].state.store)


@pytest.fixture
async def writes() -> AsyncIterator[Writes]:
    sims = {
        "waldur.sim": create_waldur_sim(orders=40, seed=41, token=SIM_TOKEN),
        "ivcap.sim": create_ivcap_sim(orders=30, seed=42, token=SIM_TOKEN),
        "arrow.sim": create_arrow_sim(orders=40, seed=43, token=SIM_TOKEN),
    }
    settings = gateway_settings(
        {
            "waldur": {
                "kind": "waldur",
                "base_url": "http://waldur.sim/api/",
                "token": SIM_TOKEN,
                "timeout_s": 1,
            },
            "ivcap": {"kind": "ivcap", "base_url": "http://ivcap.sim/1/", "token": SIM_TOKEN, "timeout_s": 1},
            "arrow": {
                "kind": "arrow",
                "base_url": "http://arrow.sim/index.php/api/",
                "api_key": SIM_TOKEN,
                "timeout_s": 1,
            },
        },
        server={"public_url": "https://gw.example.org", "request_timeout_s": 3},
    )
    async with (
        httpx.AsyncClient(transport=HostRouter(sims)) as upstream,
        gateway_client(settings, upstream) as client,
    ):
        yield Writes(client, upstream, sims)


async def create_body(w: Writes, provider: str) -> dict[str, Any]:
    """A valid create body for ``provider``, built from an order it already has."""
    orders = await w.first(provider)
    if provider == "waldur":
        sample = next(o for o in orders if o["extra"].get("project_uuid"))
        return {
            "provider": "waldur",
            "name": "gw-test-vm",
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
    if provider == "ivcap":
        return {
            "provider": "ivcap",
            "name": "gw test run",
            "service": orders[0]["service"]["id"],
            "parameters": {"region": "North"},
        }
    sample = next(o for o in orders if o["items"])
    return {
        "provider": "arrow",
        "customer": sample["customer"]["id"],
        "items": [{"sku": sample["items"][0]["id"], "quantity": 1}],
    }


SIM_HOST = {"waldur": "waldur.sim", "ivcap": "ivcap.sim", "arrow": "arrow.sim"}


@pytest.mark.parametrize("provider", ["waldur", "ivcap", "arrow"])
async def test_create_answers_201_with_the_order_and_its_location(writes: Writes, provider: str) -> None:
    before = writes.count(SIM_HOST[provider])
    response = await writes.client.post(
        "/orders", json=await create_body(writes, provider), headers=auth("ops")
    )
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["provider"] == provider and order["status"] == "pending"
    assert (
        response.headers["location"]
        == order["links"]["self"]
        == f"https://gw.example.org/orders/{order['id']}"
    )
    assert writes.count(SIM_HOST[provider]) == before + 1
    read = await writes.client.get(f"/orders/{order['id']}", headers=auth("ops"))
    assert read.status_code == 200 and read.json()["id"] == order["id"]


@pytest.mark.parametrize("provider", ["waldur", "ivcap", "arrow"])
async def test_same_key_same_body_replays_and_creates_once(writes: Writes, provider: str) -> None:
    body = await create_body(writes, provider)
    before = writes.count(SIM_HOST[provider])
    headers = {**auth("ops"), "Idempotency-Key": f"replay-{provider}"}
    first = await writes.client.post("/orders", json=body, headers=headers)
    second = await writes.client.post("/orders", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.content == first.content and second.headers["location"] == first.headers["location"]
    assert second.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert writes.count(SIM_HOST[provider]) == before + 1
    other = await writes.client.post("/orders", json={**body, "name": "something else"}, headers=headers)
    assert other.status_code == 422 and other.json()["type"] == BASE + "idempotency-key-reused"
    # Keys are scoped per API key: the same key from another caller is a new request.
    editor = await writes.client.post(
        "/orders", json=body, headers={**auth("editor"), "Idempotency-Key": f"replay-{provider}"}
    )
    assert editor.status_code == 201 and editor.json()["id"] != first.json()["id"]


async def test_a_second_request_while_the_first_is_in_flight_is_409(writes: Writes) -> None:
    body = await create_body(writes, "arrow")
    await writes.upstream.post("http://arrow.sim/__sim__/faults", json={"latency_ms": 400, "count": 1})
    headers = {**auth("ops"), "Idempotency-Key": "in-flight-1"}
    first, second = await asyncio.gather(
        writes.client.post("/orders", json=body, headers=headers),
        _after(0.1, writes.client.post("/orders", json=body, headers=headers)),
    )
    assert first.status_code == 201
    assert second.status_code == 409 and second.json()["type"] == BASE + "request-in-progress"


async def _after(delay: float, call: Any) -> Any:
    await asyncio.sleep(delay)
    return await call


async def test_uncertain_create_is_504_and_the_retry_finds_the_order(writes: Writes) -> None:
    body = await create_body(writes, "arrow")
    before = writes.count("arrow.sim")
    headers = {**auth("ops"), "Idempotency-Key": "uncertain-1"}
    # The upstream accepts the order but answers after our 1 s budget.
    await writes.upstream.post(
        "http://arrow.sim/__sim__/faults",
        json={"latency_ms": 1500, "count": 1, "path": "/index.php/api/orders"},
    )
    first = await writes.client.post("/orders", json=body, headers=headers)
    assert first.status_code == 504, first.text
    assert first.json()["outcome"] == "uncertain" and first.json()["type"] == BASE + "upstream-timeout"
    await asyncio.sleep(1.6)  # let the slow upstream finish creating it
    await writes.upstream.delete("http://arrow.sim/__sim__/faults")
    retry = await writes.client.post("/orders", json=body, headers=headers)
    assert retry.status_code == 201, retry.text
    assert writes.count("arrow.sim") <= before + 1


@pytest.mark.parametrize(
    ("provider", "action", "status", "type_"),
    [
        ("ivcap", "cancel", 422, "unsupported-action"),
        ("arrow", "approve", 422, "unsupported-action"),
    ],
)
async def test_actions_a_kind_cannot_do_are_422(
    writes: Writes, provider: str, action: str, status: int, type_: str
) -> None:
    order = (await writes.first(provider))[0]
    response = await writes.client.post(f"/orders/{order['id']}/{action}", json={}, headers=auth("ops"))
    assert response.status_code == status and response.json()["type"] == BASE + type_


async def test_waldur_cancel_in_a_final_state_is_409_and_allowed_one_moves_the_order(writes: Writes) -> None:
    orders = await writes.first("waldur")
    done = next(o for o in orders if o["provider_status"] == "done")
    refused = await writes.client.post(f"/orders/{done['id']}/cancel", headers=auth("ops"))
    assert refused.status_code == 409 and refused.json()["type"] == BASE + "action-not-allowed"
    created = (
        await writes.client.post("/orders", json=await create_body(writes, "waldur"), headers=auth("ops"))
    ).json()
    assert "approve" in created["actions"]
    approved = await writes.client.post(
        f"/orders/{created['id']}/approve", json={"as": "consumer"}, headers=auth("ops")
    )
    assert approved.status_code == 200 and approved.json()["provider_status"] != "pending-consumer"


async def test_staff_actions_need_the_admin_scope_and_actions_follow_scopes(writes: Writes) -> None:
    order = (await writes.first("waldur"))[0]
    forbidden = await writes.client.post(f"/orders/{order['id']}/actions/unlink", headers=auth("editor"))
    assert forbidden.status_code == 403 and forbidden.json()["type"] == BASE + "missing-scope"
    as_reader = (await writes.client.get(f"/orders/{order['id']}", headers=auth("reader"))).json()
    as_ops = (await writes.client.get(f"/orders/{order['id']}", headers=auth("ops"))).json()
    assert as_reader["actions"] == []
    assert set(as_reader["actions"]) <= set(as_ops["actions"])
    reader_create = await writes.client.post("/orders", json={"provider": "waldur"}, headers=auth("reader"))
    assert reader_create.status_code == 403


@pytest.mark.parametrize(
    ("content", "content_type", "status", "type_"),
    [
        (b"{not json", "application/json", 400, "invalid-body"),
        (b"provider=waldur", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
        (b"[1, 2]", "application/json", 422, "validation-failed"),
        (b'{"provider": "waldur", "colour": "red"}', "application/json", 422, "validation-failed"),
        (b'{"name": "x"}', "application/json", 422, "validation-failed"),
        (b'{"provider": "nowhere"}', "application/json", 422, "validation-failed"),
        (b" " * (6 * 1024 * 1024), "application/json", 413, "payload-too-large"),
    ],
)
async def test_bad_create_bodies_are_clear_problems(
    writes: Writes, content: bytes, content_type: str, status: int, type_: str
) -> None:
    response = await writes.client.post(
        "/orders", content=content, headers={**auth("ops"), "Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == BASE + type_


async def test_validation_errors_name_the_field(writes: Writes) -> None:
    response = await writes.client.post("/orders", json={"name": "x"}, headers=auth("ops"))
    assert {"loc": ["body", "provider"], "msg": "Field required"} in response.json()["errors"]


async def test_ivcap_metadata_can_be_added_and_read_back(writes: Writes) -> None:
    order = (await writes.first("ivcap"))[0]
    added = await writes.client.post(
        f"/orders/{order['id']}/actions/add_metadata",
        json={"schema": "urn:example:schema:note.1", "content": {"note": "checked"}},
        headers=auth("editor"),
    )
    assert added.status_code == 200, added.text
    assert (
        added.json()["data"]["id"].startswith("urn:ivcap:aspect:")
        and added.json()["order"]["id"] == order["id"]
    )
    listed = await writes.client.post(f"/orders/{order['id']}/actions/metadata", headers=auth("reader"))
    assert listed.status_code == 200
    assert any(item["schema"] == "urn:example:schema:note.1" for item in listed.json()["data"])
    products = await writes.client.post(f"/orders/{order['id']}/actions/products", headers=auth("reader"))
    assert products.status_code == 200 and isinstance(products.json()["data"], list)
    assert "ivcap.sim" not in products.text + listed.text
    offering = await writes.client.get(f"/orders/{order['id']}/offering", headers=auth("reader"))
    assert offering.status_code == 200 and offering.json()["data"]


async def test_arrow_actions_move_the_order_and_history_records_them(writes: Writes) -> None:
    created = (
        await writes.client.post("/orders", json=await create_body(writes, "arrow"), headers=auth("ops"))
    ).json()
    assert "validate" in created["actions"] and "cancel" in created["actions"]
    validated = await writes.client.post(f"/orders/{created['id']}/actions/validate", headers=auth("ops"))
    assert validated.status_code == 200, validated.text
    assert validated.json()["provider_status"] != created["provider_status"]
    again = await writes.client.post(f"/orders/{created['id']}/actions/validate", headers=auth("ops"))
    assert again.status_code == 409 and again.json()["type"] == BASE + "action-not-allowed"
    history = await writes.client.get(f"/orders/{created['id']}/history", headers=auth("reader"))
    assert history.status_code == 200 and len(history.json()["data"]) >= 1
    cancelled = await writes.client.post(f"/orders/{created['id']}/cancel", headers=auth("ops"))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert "cancel" not in cancelled.json()["actions"]


async def test_waldur_delete_and_offering(writes: Writes) -> None:
    created = (
        await writes.client.post("/orders", json=await create_body(writes, "waldur"), headers=auth("ops"))
    ).json()
    offering = await writes.client.get(f"/orders/{created['id']}/offering", headers=auth("reader"))
    assert offering.status_code == 200 and offering.json()["data"]["id"] == created["service"]["id"]
    assert "waldur.sim" not in offering.text
    deleted = await writes.client.delete(f"/orders/{created['id']}", headers=auth("ops"))
    assert deleted.status_code == 204
    assert (await writes.client.get(f"/orders/{created['id']}", headers=auth("ops"))).status_code == 404
    history = await writes.client.get(f"/orders/{created['id']}/history", headers=auth("reader"))
    assert history.status_code in (404, 422)


async def test_a_create_whose_read_back_fails_is_uncertain_and_the_retry_finds_it(writes: Writes) -> None:
    body = await create_body(writes, "arrow")
    before = writes.count("arrow.sim")
    headers = {**auth("ops"), "Idempotency-Key": "read-back-fails"}
    # The create itself succeeds; every attempt to read the new order back answers 500.
    await writes.upstream.post(
        "http://arrow.sim/__sim__/faults",
        json={"status": 500, "count": 3, "path": "/index.php/api/orders/"},
    )
    first = await writes.client.post("/orders", json=body, headers=headers)
    assert first.status_code == 504, first.text
    assert first.json()["outcome"] == "uncertain"
    assert writes.count("arrow.sim") == before + 1
    await writes.upstream.delete("http://arrow.sim/__sim__/faults")
    retry = await writes.client.post("/orders", json=body, headers=headers)
    assert retry.status_code == 201, retry.text
    assert writes.count("arrow.sim") == before + 1  # found by its marker, not made again


async def test_a_failed_look_up_after_an_uncertain_create_stays_uncertain(writes: Writes) -> None:
    body = await create_body(writes, "arrow")
    before = writes.count("arrow.sim")
    headers = {**auth("ops"), "Idempotency-Key": "look-up-fails"}
    faults = "http://arrow.sim/__sim__/faults"
    await writes.upstream.post(faults, json={"latency_ms": 1500, "count": 1, "path": "/index.php/api/orders"})
    first = await writes.client.post("/orders", json=body, headers=headers)
    assert first.status_code == 504 and first.json()["outcome"] == "uncertain"
    await asyncio.sleep(1.6)  # the slow create lands upstream
    # The retry's look-up fails: still uncertain (not a 502 that would free the key).
    await writes.upstream.post(faults, json={"status": 500, "count": 3, "path": "/index.php/api/orders"})
    second = await writes.client.post("/orders", json=body, headers=headers)
    assert second.status_code == 504 and second.json()["outcome"] == "uncertain", second.text
    await writes.upstream.delete(faults)
    third = await writes.client.post("/orders", json=body, headers=headers)
    assert third.status_code == 201, third.text
    assert writes.count("arrow.sim") == before + 1
