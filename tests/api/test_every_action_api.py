"""Every action of every kind through HTTP: accepted where the order lists it, refused
(409 action-not-allowed or 422 unsupported-action) where it does not, and the upstream
state afterwards is what the answer says."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.sim.arrow import create_arrow_sim
from gateway.sim.ivcap import create_ivcap_sim
from gateway.sim.waldur import create_waldur_sim
from tests.support.stack import SIM_TOKEN, HostRouter, auth, gateway_client, gateway_settings

BASE = "https://errors.order-gateway.dev/"
GENERIC_POST = {"cancel", "approve", "reject"}


def payload_for(kind: str, action: str, order: dict[str, Any]) -> dict[str, Any]:
    role = "provider" if order["provider_status"] == "pending-provider" else "consumer"
    return {
        ("waldur", "approve"): {"as": role},
        ("waldur", "reject"): {"as": role},
        ("waldur", "set_backend_id"): {"backend_id": "backend-7"},
        ("waldur", "set_state_erred"): {"message": "broken"},
        ("arrow", "contributor"): {"contributor": [{"type": "icst", "staffId": 1}]},
        ("arrow", "additionalInformation"): {"data": [{"name": "team", "value": "blue"}]},
        ("arrow", "update_po"): {"PO_number": "PO-42"},
        ("arrow", "add_attachment"): {"name": "note.txt", "content_base64": base64.b64encode(b"hi").decode()},
        ("arrow", "delete_attachment"): {"name": "note.txt"},
        ("ivcap", "add_metadata"): {"schema": "urn:example:schema:check.1", "content": {"ok": True}},
    }.get((kind, action), {})


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    sims = {
        "waldur.sim": create_waldur_sim(orders=150, seed=61, token=SIM_TOKEN),
        "ivcap.sim": create_ivcap_sim(orders=40, seed=62, token=SIM_TOKEN),
        "arrow.sim": create_arrow_sim(orders=150, seed=63, token=SIM_TOKEN),
    }
    settings = gateway_settings(
        {
            "waldur": {"kind": "waldur", "base_url": "http://waldur.sim/api/", "token": SIM_TOKEN},
            "ivcap": {"kind": "ivcap", "base_url": "http://ivcap.sim/1/", "token": SIM_TOKEN},
            "arrow": {"kind": "arrow", "base_url": "http://arrow.sim/index.php/api/", "api_key": SIM_TOKEN},
        }
    )
    async with (
        httpx.AsyncClient(transport=HostRouter(sims)) as upstream,
        gateway_client(settings, upstream) as gw,
    ):
        yield gw


async def run(client: httpx.AsyncClient, kind: str, action: str, order: dict[str, Any]) -> httpx.Response:
    payload = payload_for(kind, action, order)
    if action == "delete":
        return await client.delete(f"/orders/{order['id']}", headers=auth("ops"))
    if kind == "waldur" and action == "update_attachment":
        files = {"attachment": ("spec.pdf", b"%PDF-1.4 test", "application/pdf")}
        return await client.post(f"/orders/{order['id']}/actions/{action}", files=files, headers=auth("ops"))
    path = (
        f"/orders/{order['id']}/{action}"
        if action in GENERIC_POST
        else f"/orders/{order['id']}/actions/{action}"
    )
    return await client.post(path, json=payload, headers=auth("ops"))


@pytest.mark.parametrize("kind", ["waldur", "ivcap", "arrow"])
async def test_each_listed_action_is_accepted_and_each_unlisted_one_refused(
    client: httpx.AsyncClient, kind: str
) -> None:
    listing = await client.get("/orders", params={"provider": kind, "limit": "200"}, headers=auth("ops"))
    orders = listing.json()["data"]
    writes = set(orders[0]["actions"]).union(*(o["actions"] for o in orders))
    exercised: set[str] = set()
    used: set[str] = set()
    for action in sorted(writes):
        if action == "delete_attachment" and kind == "arrow":
            continue  # needs an attachment first: covered after add_attachment below
        allowed = next((o for o in orders if action in o["actions"] and o["id"] not in used), None)
        assert allowed is not None, action
        used.add(allowed["id"])
        accepted = await run(client, kind, action, allowed)
        assert accepted.status_code in (200, 204), (action, accepted.text)
        if accepted.status_code == 200 and "provider_status" in accepted.json():
            fresh = await client.get(f"/orders/{allowed['id']}", headers=auth("ops"))
            assert fresh.json()["provider_status"] == accepted.json()["provider_status"]
        refused = next((o for o in orders if action not in o["actions"] and o["id"] not in used), None)
        if refused is not None:
            answer = await run(client, kind, action, refused)
            assert answer.status_code in (409, 422), (action, refused["provider_status"], answer.text)
            assert answer.json()["type"] in (BASE + "action-not-allowed", BASE + "unsupported-action")
        exercised.add(action)
    if kind == "arrow":
        target = next(o for o in orders if "add_attachment" in o["actions"] and o["id"] not in used)
        assert (await run(client, kind, "add_attachment", target)).status_code == 200
        assert (await run(client, kind, "delete_attachment", target)).status_code in (200, 204)
        exercised.add("delete_attachment")
    # Every write an order offered was reachable and behaved; none lies outside the kind's
    # declared actions (the generic ones have their own endpoints).
    assert exercised == writes
    caps = _capabilities(kind)
    assert writes <= (caps.actions - caps.read_actions) | {"cancel", "approve", "reject", "delete"}


def _capabilities(kind: str) -> Any:
    from gateway.adapters.arrow import ARROW_CAPABILITIES
    from gateway.adapters.ivcap import IVCAP_CAPABILITIES
    from gateway.adapters.waldur import WALDUR_CAPABILITIES

    return {"waldur": WALDUR_CAPABILITIES, "ivcap": IVCAP_CAPABILITIES, "arrow": ARROW_CAPABILITIES}[kind]


@pytest.mark.parametrize(
    ("kind", "action"),
    [
        ("ivcap", "cancel"),
        ("ivcap", "delete"),
        ("arrow", "approve"),
        ("arrow", "delete"),
        ("waldur", "history"),
        ("waldur", "validate"),
    ],
)
async def test_actions_a_kind_lacks_are_422(client: httpx.AsyncClient, kind: str, action: str) -> None:
    order = (
        await client.get("/orders", params={"provider": kind, "limit": "1"}, headers=auth("ops"))
    ).json()["data"][0]
    if action == "history":
        answer = await client.get(f"/orders/{order['id']}/history", headers=auth("ops"))
    else:
        answer = await run(client, kind, action, order)
    assert answer.status_code == 422 and answer.json()["type"] == BASE + "unsupported-action"
