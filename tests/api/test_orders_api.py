"""GET /orders and GET /orders/{id} through HTTP: data, filters, paging, isolation (API.md §3, §5)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import pytest

from tests.api.conftest import Deployment
from tests.support.stack import auth

ORDER_FIELDS = {
    "id", "provider", "provider_kind", "native_id", "name", "status", "provider_status", "created_at",
    "updated_at", "completed_at", "customer", "service", "items", "total", "actions", "links", "extra",
}  # fmt: skip


async def walk(d: Deployment, params: dict[str, str], key: str = "reader") -> list[dict]:  # type: ignore[type-arg]
    seen: list[dict] = []  # type: ignore[type-arg]
    cursor = None
    for _ in range(200):
        response = await d.client.get(
            "/orders", params={**params, **({"cursor": cursor} if cursor else {})}, headers=auth(key)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        seen.extend(body["data"])
        cursor = body["next_cursor"]
        assert body["has_more"] == (cursor is not None)
        assert ("link" in response.headers) == (cursor is not None)
        if cursor is None:
            return seen
    raise AssertionError("walk did not end")


def parse_time(text: str) -> datetime:
    assert text.endswith("Z")
    return datetime.fromisoformat(text)


async def test_list_returns_normalised_orders_with_every_field(deployment: Deployment) -> None:
    response = await deployment.client.get("/orders", params={"limit": "5"}, headers=auth("reader"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert len(body["data"]) == 5 and body["has_more"] is True
    for order in body["data"]:
        assert set(order) == ORDER_FIELDS
        assert order["provider_kind"] == "waldur"
        assert order["id"] == f"{order['provider']}:{order['native_id']}"
        assert order["links"]["self"] == f"https://gw.example.org/orders/{order['id']}"
        assert "waldur.sim" not in str(order)  # no internal upstream address anywhere
    assert body["providers"]["waldur-eu"]["status"] == "ok"
    assert body["providers"]["waldur-au"]["status"] == "ok"
    link = response.headers["link"]
    assert link.startswith("<http://gateway.test/orders?") and link.endswith('>; rel="next"')


async def test_walk_returns_every_order_once_newest_first(deployment: Deployment) -> None:
    orders = await walk(deployment, {"limit": "7"})
    assert len(orders) == 75 and len({o["id"] for o in orders}) == 75
    keys = [(parse_time(o["created_at"]), o["id"]) for o in orders]
    assert keys == sorted(keys, reverse=True)


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "updated_at", "-updated_at"])
async def test_every_sort_walks_in_order(deployment: Deployment, sort: str) -> None:
    orders = await walk(deployment, {"limit": "20", "sort": sort})
    field = sort.lstrip("-")
    keys = [(parse_time(o[field] or o["created_at"]), o["id"]) for o in orders]
    assert len(orders) == 75
    assert keys == sorted(keys, reverse=sort.startswith("-"))


async def test_filters_match_the_oracle(deployment: Deployment) -> None:
    everything = await walk(deployment, {"limit": "200"})
    some = everything[10]
    middle = sorted(o["created_at"] for o in everything)[len(everything) // 2]
    cases = [
        ({"status": "pending"}, lambda o: o["status"] == "pending"),
        ({"status": "completed,failed"}, lambda o: o["status"] in ("completed", "failed")),
        ({"provider_status": "executing"}, lambda o: o["provider_status"] == "executing"),
        ({"customer": some["customer"]["id"]}, lambda o: o["customer"]["id"] == some["customer"]["id"]),
        ({"service": some["service"]["id"]}, lambda o: o["service"]["id"] == some["service"]["id"]),
        ({"created_after": middle}, lambda o: o["created_at"] >= middle),
        ({"created_before": middle}, lambda o: o["created_at"] < middle),
        ({"updated_after": middle}, lambda o: (o["updated_at"] or o["created_at"]) >= middle),
        ({"q": some["name"][:4].upper()}, lambda o: some["name"][:4].lower() in (o["name"] or "").lower()
            or some["name"][:4].lower() in o["native_id"] or some["name"][:4].lower() in o["customer"]["name"].lower()),
        ({"provider": "waldur-au"}, lambda o: o["provider"] == "waldur-au"),
    ]  # fmt: skip
    for params, predicate in cases:
        expected = [o["id"] for o in everything if predicate(o)]
        got = [o["id"] for o in await walk(deployment, {**params, "limit": "9"})]
        assert got == expected, params
        assert expected, f"the case {params} should match something"


async def test_provider_report_says_what_was_pushed_down(deployment: Deployment) -> None:
    response = await deployment.client.get(
        "/orders", params={"status": "pending", "q": "x"}, headers=auth("reader")
    )
    report = response.json()["providers"]["waldur-eu"]
    assert report["filters_pushed_down"] == ["status"]
    assert report["filters_applied_locally"] == ["q"]


async def test_get_order_by_id(deployment: Deployment) -> None:
    listed = (await deployment.client.get("/orders", params={"limit": "1"}, headers=auth("reader"))).json()[
        "data"
    ][0]
    response = await deployment.client.get(f"/orders/{quote(listed['id'])}", headers=auth("reader"))
    assert response.status_code == 200
    assert response.json() == listed


async def test_get_order_accepts_the_dashed_uuid(deployment: Deployment) -> None:
    listed = (
        await deployment.client.get(
            "/orders", params={"limit": "1", "provider": "waldur-eu"}, headers=auth("reader")
        )
    ).json()["data"][0]
    n = listed["native_id"]
    dashed = f"{n[:8]}-{n[8:12]}-{n[12:16]}-{n[16:20]}-{n[20:]}"
    response = await deployment.client.get(f"/orders/waldur-eu:{dashed}", headers=auth("reader"))
    assert response.status_code == 200 and response.json()["id"] == listed["id"]


@pytest.mark.parametrize(
    "order_id",
    [
        "waldur-eu:" + "0" * 32,
        "waldur-eu:not-a-uuid",
        "nowhere:" + "0" * 32,
        "no-colon",
        "waldur-eu:..%2F..%2Fetc",
        "%00",
    ],
)
async def test_unknown_or_malformed_ids_are_404_problems(deployment: Deployment, order_id: str) -> None:
    response = await deployment.client.get(f"/orders/{order_id}", headers=auth("reader"))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    # An id with a slash does not match the route at all: a plain not-found, still a problem.
    expected = "not-found" if "%2F" in order_id else "order-not-found"
    assert response.json()["type"] == "https://errors.order-gateway.dev/" + expected


async def test_hidden_instance_is_invisible_everywhere(deployment: Deployment) -> None:
    au_order = (
        await deployment.client.get(
            "/orders", params={"limit": "1", "provider": "waldur-au"}, headers=auth("reader")
        )
    ).json()["data"][0]
    hidden = await deployment.client.get(f"/orders/{au_order['id']}", headers=auth("eu-only"))
    unknown = await deployment.client.get("/orders/waldur-au:" + "0" * 32, headers=auth("eu-only"))
    assert hidden.status_code == unknown.status_code == 404
    per_request = ("instance", "trace_id")
    assert {k: v for k, v in hidden.json().items() if k not in per_request} == {
        k: v for k, v in unknown.json().items() if k not in per_request
    }
    listing = (
        await deployment.client.get("/orders", params={"limit": "200"}, headers=auth("eu-only"))
    ).json()
    assert set(listing["providers"]) == {"waldur-eu"}
    assert {o["provider"] for o in listing["data"]} == {"waldur-eu"}
    providers = (await deployment.client.get("/providers", headers=auth("eu-only"))).json()
    assert [p["name"] for p in providers["data"]] == ["waldur-eu"]
    named = await deployment.client.get("/orders", params={"provider": "waldur-au"}, headers=auth("eu-only"))
    assert named.status_code == 400


async def test_cursor_from_another_query_or_key_is_400(deployment: Deployment) -> None:
    first = (await deployment.client.get("/orders", params={"limit": "2"}, headers=auth("reader"))).json()
    cursor = first["next_cursor"]
    other_query = await deployment.client.get(
        "/orders", params={"limit": "2", "status": "pending", "cursor": cursor}, headers=auth("reader")
    )
    other_key = await deployment.client.get(
        "/orders", params={"limit": "2", "cursor": cursor}, headers=auth("ops")
    )
    forged = await deployment.client.get(
        "/orders", params={"limit": "2", "cursor": cursor[:-3] + "AAA"}, headers=auth("reader")
    )
    for response in (other_query, other_key, forged):
        assert response.status_code == 400
        assert response.json()["type"] == "https://errors.order-gateway.dev/invalid-cursor"


async def test_statuses_lists_each_vocabulary_as_the_code_maps_it(deployment: Deployment) -> None:
    from gateway.adapters.arrow.states import arrow_status
    from gateway.adapters.waldur.states import waldur_status

    response = await deployment.client.get("/orders/statuses", headers=auth("reader"))
    assert response.status_code == 200
    body = response.json()
    assert body["statuses"] == ["pending", "in_progress", "completed", "failed", "cancelled", "rejected"]
    assert set(body["vocabularies"]) == {"waldur", "ivcap", "ivcap-legacy", "arrow"}
    waldur = body["vocabularies"]["waldur"]
    assert waldur["mapping"]["pending"] == [
        "pending-consumer",
        "pending-project",
        "pending-provider",
        "pending-start-date",
    ]
    assert waldur["fallback"] == "pending"
    for status, states in waldur["mapping"].items():
        assert all(waldur_status(state).value == status for state in states)
    for status, states in body["vocabularies"]["arrow"]["mapping"].items():
        assert all(arrow_status(state).value == status for state in states)
    assert body["vocabularies"]["ivcap-legacy"]["mapping"]["completed"] == ["finished"]
    assert (await deployment.client.get("/orders/statuses")).status_code == 401
