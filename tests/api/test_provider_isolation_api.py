"""Per-key provider isolation on every route (API.md §1): a key limited to ``waldur-eu`` never
sees anything of ``waldur-au`` — not in data, errors, counts, ``/providers``, cursors or the
read cache — and an id of a hidden instance answers exactly as an unknown id does.

The walk is driven by ``app.routes``: a route added without a check here fails the suite.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from gateway.app import create_app
from gateway.sim.waldur import create_waldur_sim
from tests.support.credentials import API_KEYS
from tests.support.stack import KEYS, SIM_TOKEN, HostRouter, auth, gateway_settings, waldur_instance

HIDDEN = "waldur-au"
# Read, write and admin, but only at waldur-eu: every route's scope check passes, so what
# answers is the isolation itself.
EU_ADMIN_KEY = API_KEYS["eu-admin"]
EU_ADMIN = {"Authorization": f"Bearer {EU_ADMIN_KEY}"}
UNKNOWN_EU = "waldur-eu:" + "0" * 32


@dataclass
class Isolated:
    app: Starlette
    client: httpx.AsyncClient
    upstream: httpx.AsyncClient
    eu: list[dict[str, Any]]  # every waldur-eu order, as ops sees them
    au: list[dict[str, Any]]  # every waldur-au order

    @property
    def au_markers(self) -> set[str]:
        """Strings only waldur-au could have put in an answer."""
        eu_names = {o["name"] for o in self.eu}
        names = {o["name"] for o in self.au if o["name"] and o["name"] not in eu_names and len(o["name"]) > 6}
        return {HIDDEN, "au.waldur.sim", *(o["native_id"] for o in self.au), *names}

    def assert_no_trace_of_au(self, response: httpx.Response) -> None:
        seen = response.text + " " + json.dumps(dict(response.headers))
        leaked = sorted(marker for marker in self.au_markers if marker in seen)
        assert not leaked, (response.request.url, leaked, seen[:300])


@pytest.fixture
async def isolated() -> AsyncIterator[Isolated]:
    sims = {
        "eu.waldur.sim": create_waldur_sim(orders=25, seed=11, token=SIM_TOKEN),
        "au.waldur.sim": create_waldur_sim(orders=20, seed=12, token=SIM_TOKEN),
    }
    keys = [
        {"name": name, "sha256": hashlib.sha256(key.encode()).hexdigest(), "scopes": scopes}
        | ({"providers": allowed} if allowed else {})
        for name, (key, scopes, allowed) in KEYS.items()
    ]
    keys.append(
        {
            "name": "eu-admin",
            "sha256": hashlib.sha256(EU_ADMIN_KEY.encode()).hexdigest(),
            "scopes": ["orders:read", "orders:write", "orders:admin"],
            "providers": ["waldur-eu"],
        }
    )
    settings = gateway_settings(
        {"waldur-eu": waldur_instance("eu.waldur.sim"), HIDDEN: waldur_instance("au.waldur.sim")},
        api_keys=keys,
        telemetry={"metrics_access": "admin"},
    )
    async with httpx.AsyncClient(transport=HostRouter(sims)) as upstream:
        app = create_app(settings, client=upstream)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
                everything = await client.get("/orders", params={"limit": "200"}, headers=auth("ops"))
                data = everything.json()["data"]
                yield Isolated(
                    app,
                    client,
                    upstream,
                    eu=[o for o in data if o["provider"] == "waldur-eu"],
                    au=[o for o in data if o["provider"] == HIDDEN],
                )


def comparable(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    """A problem answer without what differs per request (ids) or echoes the caller's input."""
    body = response.json()
    for varying in ("instance", "trace_id"):
        body.pop(varying, None)
    return response.status_code, body


async def assert_alike(hidden: httpx.Response, unknown: httpx.Response) -> None:
    """An answer about a hidden instance's order is the answer about an order that is not."""
    assert hidden.status_code == unknown.status_code == 404, (hidden.text, unknown.text)
    assert comparable(hidden) == comparable(unknown)
    assert set(hidden.headers) == set(unknown.headers)


# --- each route's check ----------------------------------------------------------------------

Check = Callable[[Isolated], Awaitable[list[httpx.Response]]]


async def list_orders(iso: Isolated) -> list[httpx.Response]:
    page = await iso.client.get("/orders", params={"limit": "200"}, headers=auth("eu-only"))
    body = page.json()
    assert {o["provider"] for o in body["data"]} == {"waldur-eu"} and len(body["data"]) == len(iso.eu)
    assert set(body["providers"]) == {"waldur-eu"}
    # Naming the hidden instance is answered as naming one that does not exist (the answer
    # echoes the caller's own word, so it is compared rather than searched).
    hidden = await iso.client.get("/orders", params={"provider": HIDDEN}, headers=auth("eu-only"))
    unknown = await iso.client.get("/orders", params={"provider": "waldur-xx"}, headers=auth("eu-only"))
    assert hidden.status_code == unknown.status_code == 400
    assert comparable(hidden)[1]["detail"].replace(HIDDEN, "?") == comparable(unknown)[1]["detail"].replace(
        "waldur-xx", "?"
    )
    # A cursor: it names only the key's instances, and no other key may use it.
    small = await iso.client.get("/orders", params={"limit": "3"}, headers=auth("eu-only"))
    cursor = small.json()["next_cursor"]
    payload = base64.urlsafe_b64decode(cursor.split(".")[0] + "==")
    assert HIDDEN.encode() not in payload
    foreign = await iso.client.get("/orders", params={"limit": "3", "cursor": cursor}, headers=auth("reader"))
    assert foreign.status_code == 400 and foreign.json()["type"].endswith("/invalid-cursor")
    readers = await iso.client.get("/orders", params={"limit": "3"}, headers=auth("reader"))
    theirs = readers.json()["next_cursor"]
    stolen = await iso.client.get("/orders", params={"limit": "3", "cursor": theirs}, headers=auth("eu-only"))
    assert stolen.status_code == 400 and stolen.json()["type"].endswith("/invalid-cursor")
    # The hidden instance failing is no concern of this key's: no partial answer, no report.
    await iso.upstream.post("http://au.waldur.sim/__sim__/faults", json={"status": 503, "count": 50})
    calm = await iso.client.get("/orders", params={"limit": "5"}, headers=auth("eu-only"))
    await iso.upstream.delete("http://au.waldur.sim/__sim__/faults")
    assert calm.status_code == 200 and "x-partial-response" not in calm.headers
    return [page, small, stolen, calm]


async def export_orders(iso: Isolated) -> list[httpx.Response]:
    export = await iso.client.get("/orders/export", headers=auth("eu-only"))
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert export.status_code == 200 and len(lines) == len(iso.eu)
    assert {line["provider"] for line in lines} == {"waldur-eu"}
    return [export]


async def statuses(iso: Isolated) -> list[httpx.Response]:
    answer = await iso.client.get("/orders/statuses", headers=auth("eu-only"))
    assert answer.status_code == 200  # kinds' vocabularies: no instance at all
    return [answer]


async def read_order(iso: Isolated) -> list[httpx.Response]:
    answers = []
    for headers in (auth("eu-only"), EU_ADMIN):
        hidden = await iso.client.get(f"/orders/{iso.au[0]['id']}", headers=headers)
        await assert_alike(hidden, await iso.client.get(f"/orders/{UNKNOWN_EU}", headers=headers))
        await assert_alike(hidden, await iso.client.get("/orders/nowhere:x1", headers=headers))
        answers.append(hidden)
    visible = await iso.client.get(f"/orders/{iso.eu[0]['id']}", headers=auth("eu-only"))
    assert visible.status_code == 200
    return [*answers, visible]


def per_order(method: str, suffix: str, body: dict[str, Any] | None = None) -> Check:
    """A route on one order: for the hidden instance's order, the unknown order's answer."""

    async def check(iso: Isolated) -> list[httpx.Response]:
        answers = []
        for headers in (auth("eu-only"), EU_ADMIN):
            kwargs: dict[str, Any] = {"headers": headers} | ({"json": body} if body is not None else {})
            hidden = await iso.client.request(method, f"/orders/{iso.au[0]['id']}{suffix}", **kwargs)
            unknown = await iso.client.request(method, f"/orders/nowhere:x1{suffix}", **kwargs)
            await assert_alike(hidden, unknown)
            answers.append(hidden)
        return answers

    return check


async def create_order(iso: Isolated) -> list[httpx.Response]:
    sample = iso.au[0]
    body = {"provider": HIDDEN, "name": "x", "service": sample["service"]["id"]}
    hidden = await iso.client.post("/orders", json=body, headers=EU_ADMIN)
    unknown = await iso.client.post("/orders", json={**body, "provider": "nowhere"}, headers=EU_ADMIN)
    assert hidden.status_code == unknown.status_code == 422
    assert comparable(hidden) == comparable(unknown)
    return [hidden]


async def providers(iso: Isolated) -> list[httpx.Response]:
    answer = await iso.client.get("/providers", headers=auth("eu-only"))
    assert [p["name"] for p in answer.json()["data"]] == ["waldur-eu"]
    return [answer]


async def healthz(iso: Isolated) -> list[httpx.Response]:
    return [await iso.client.get("/healthz", headers=auth("eu-only"))]


async def readyz(iso: Isolated) -> list[httpx.Response]:
    """Keyless by design (probes have no key): it names every configured instance — never an
    address — and a key changes nothing in it. Not a route a key's isolation covers."""
    keyed = await iso.client.get("/readyz", headers=auth("eu-only"))
    keyless = await iso.client.get("/readyz")
    assert keyed.json() == keyless.json() and set(keyed.json()["instances"]) == {"waldur-eu", HIDDEN}
    assert "waldur.sim" not in keyed.text
    return []


async def metrics(iso: Isolated) -> list[httpx.Response]:
    """Operators' data (orders:admin): a read key gets 403. A provider-limited admin key
    reads metrics of every instance — see test_metrics_are_refused_to_a_provider_limited_key."""
    refused = await iso.client.get("/metrics", headers=auth("eu-only"))
    assert refused.status_code == 403
    return [refused]


async def documents(iso: Isolated) -> list[httpx.Response]:
    return [
        await iso.client.get("/openapi.json", headers=auth("eu-only")),
        await iso.client.get("/docs", headers=auth("eu-only")),
        await iso.client.get("/docs/assets/init.js", headers=auth("eu-only")),
    ]


CHECKS: dict[tuple[str, str], Check] = {
    ("GET", "/orders"): list_orders,
    ("GET", "/orders/export"): export_orders,
    ("GET", "/orders/statuses"): statuses,
    ("GET", "/orders/{order_id}"): read_order,
    ("POST", "/orders"): create_order,
    ("POST", "/orders/{order_id}/cancel"): per_order("POST", "/cancel"),
    ("POST", "/orders/{order_id}/approve"): per_order("POST", "/approve", {"as": "consumer"}),
    ("POST", "/orders/{order_id}/reject"): per_order("POST", "/reject", {"as": "consumer"}),
    ("GET", "/orders/{order_id}/offering"): per_order("GET", "/offering"),
    ("GET", "/orders/{order_id}/history"): per_order("GET", "/history"),
    ("POST", "/orders/{order_id}/actions/{name}"): per_order(
        "POST", "/actions/set_backend_id", {"backend_id": "b-1"}
    ),
    ("DELETE", "/orders/{order_id}"): per_order("DELETE", ""),
    ("GET", "/providers"): providers,
    ("GET", "/healthz"): healthz,
    ("GET", "/readyz"): readyz,
    ("GET", "/metrics"): metrics,
    ("GET", "/openapi.json"): documents,
    ("GET", "/docs"): documents,
    ("GET", "/docs/assets/{name}"): documents,
}


async def test_every_route_of_the_app_has_an_isolation_check(isolated: Isolated) -> None:
    routes = {
        (method, route.path)
        for route in isolated.app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert routes == set(CHECKS)


@pytest.mark.parametrize("route", list(CHECKS), ids=lambda r: f"{r[0]} {r[1]}")
async def test_nothing_of_a_hidden_instance_reaches_a_limited_key(
    isolated: Isolated, route: tuple[str, str]
) -> None:
    au_calls = (await isolated.upstream.get("http://au.waldur.sim/__sim__/requests")).json()["total"]
    for answer in await CHECKS[route](isolated):
        assert answer.status_code < 500, answer.text
        isolated.assert_no_trace_of_au(answer)
    if route not in {("GET", "/readyz"), ("GET", "/orders")}:  # probes; the ops listing above
        after = (await isolated.upstream.get("http://au.waldur.sim/__sim__/requests")).json()["total"]
        assert after == au_calls, "a limited key's request reached the hidden instance"


async def test_the_read_cache_never_answers_one_key_with_anothers_view(isolated: Isolated) -> None:
    # ops' listing (in the fixture) filled the cache for both instances: eu-only gets its own
    # instance's entries, as hits, and nothing of the other.
    again = await isolated.client.get("/orders", params={"limit": "200"}, headers=auth("eu-only"))
    assert again.headers["x-cache"] == "HIT"
    assert {o["provider"] for o in again.json()["data"]} == {"waldur-eu"}
    isolated.assert_no_trace_of_au(again)
    # One order, read by a key that may act on it, then by one that may only read: the
    # cached order answers both, each with the actions its own scopes allow.
    order = next(o for o in isolated.eu if "set_backend_id" in o["actions"])
    first = await isolated.client.get(f"/orders/{order['id']}", headers=EU_ADMIN)
    second = await isolated.client.get(f"/orders/{order['id']}", headers=auth("eu-only"))
    assert second.headers["x-cache"] == "HIT"
    assert "set_backend_id" in first.json()["actions"] and second.json()["actions"] == []
    assert first.headers["etag"] != second.headers["etag"]


async def test_metrics_are_refused_to_a_provider_limited_key(isolated: Isolated) -> None:
    answer = await isolated.client.get("/metrics", headers=EU_ADMIN)
    assert answer.status_code == 403 and HIDDEN not in answer.text
    assert answer.json()["type"].endswith("/missing-scope")
