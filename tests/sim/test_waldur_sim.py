"""The simulated Waldur through HTTP: auth, pagination, filters, ordering, bodies and faults."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from dateutil.parser import isoparse
from starlette.applications import Starlette
from waldur_api_client.models.order_details import OrderDetails

from gateway.sim.faults import FaultPlan
from gateway.sim.waldur import create_waldur_sim
from tests.support.credentials import SIM_TOKEN as TOKEN
from tests.support.credentials import WRONG_TOKEN
from tests.support.servers import running_server
from tests.support.waldur_fields import NULLABLE_DATETIMES

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
BASE = "http://testserver"
ORDERS = f"{BASE}/api/marketplace-orders/"
STATES = (
    "pending-consumer",
    "pending-provider",
    "pending-project",
    "pending-start-date",
    "executing",
    "done",
    "erred",
    "canceled",
    "rejected",
)
# Order.state is an integer column on the server (mastermind enums): `o=state` sorts by it.
STATE_CODES = dict(zip(("pending-consumer", "executing", "done", "erred", "canceled",
                        "rejected", "pending-provider", "pending-project",
                        "pending-start-date"), range(1, 10), strict=True))  # fmt: skip
Body = dict[str, Any]


def make_sim(**options: Any) -> Starlette:
    return create_waldur_sim(token=TOKEN, clock=lambda: NOW, **options)


def client_for(app: Starlette, *, token: str | None = TOKEN) -> httpx.AsyncClient:
    headers = {} if token is None else {"Authorization": f"Token {token}"}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE, headers=headers)


@pytest.fixture(scope="module")
def sim() -> Starlette:
    return make_sim()


@pytest.fixture
async def client(sim: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sim) as client:
        yield client


async def list_orders(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    return await client.get("/api/marketplace-orders/", params=params)


async def fetch_all(client: httpx.AsyncClient, **params: Any) -> list[Body]:
    """Every matching order, walking pages of 300."""
    bodies: list[Body] = []
    for page in range(1, 1000):
        response = await list_orders(client, **params, page_size=300, page=page)
        assert response.status_code == 200, response.text
        bodies.extend(response.json())
        if 'rel="next"' not in response.headers["Link"]:
            return bodies
    raise AssertionError("pagination never ended")


def uuids(bodies: list[Body]) -> list[str]:
    return [body["uuid"] for body in bodies]


def links(response: httpx.Response) -> dict[str, str]:
    found = {}
    for part in response.headers["Link"].split(", "):
        url, rel = re.fullmatch(r'<([^>]*)>; rel="(\w+)"', part).groups()  # type: ignore[union-attr]
        found[rel] = url
    return found


# --- authentication (§1) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "Authentication credentials were not provided."),
        ("Bearer " + TOKEN, "Authentication credentials were not provided."),
        ("Token", "Invalid token. No credentials provided."),
        (f"Token {WRONG_TOKEN}", "Invalid token."),
        (f"Token {TOKEN} extra", "Invalid token. Token string should not contain spaces."),
    ],
    ids=["none", "bearer-keyword", "keyword-alone", "wrong-token", "extra-word"],
)
async def test_refuses_missing_or_bad_tokens_with_drf_401(
    sim: Starlette, authorization: str | None, detail: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with client_for(sim, token=None) as client:
        response = await client.get("/api/marketplace-orders/", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert response.headers["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("keyword", ["token", "TOKEN", "Token"])
async def test_accepts_the_token_keyword_in_any_case(sim: Starlette, keyword: str) -> None:
    async with client_for(sim, token=None) as client:
        response = await client.get(
            "/api/marketplace-orders/", headers={"Authorization": f"{keyword} {TOKEN}"}
        )
    assert response.status_code == 200


async def test_authentication_comes_before_method_checks_but_not_before_routing(
    sim: Starlette,
) -> None:
    async with client_for(sim, token=None) as client:
        assert (await client.post("/api/marketplace-orders/")).status_code == 401
        response = await client.get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


async def test_unsupported_method_is_a_drf_405(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/marketplace-orders/")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PUT" not allowed.'}
    assert response.headers["Allow"] == "GET, HEAD, POST"
    unrouted = await client.request("TRACE", "/api/marketplace-orders/")
    assert unrouted.status_code == 405
    assert unrouted.json() == {"detail": 'Method "TRACE" not allowed.'}


# --- pagination (§5) ------------------------------------------------------------------


async def test_list_is_a_bare_array_of_ten_with_the_total_in_a_header(
    client: httpx.AsyncClient,
) -> None:
    response = await list_orders(client)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json(), list)
    assert len(response.json()) == 10
    assert response.headers["X-Result-Count"] == "500"


@pytest.mark.parametrize(
    ("page_size", "expected"),
    [("1000", 300), ("300", 300), ("25", 25), ("0", 10), ("-3", 10), ("abc", 10), ("", 10)],
)
async def test_page_size_is_clamped_or_falls_back_to_the_default(
    client: httpx.AsyncClient, page_size: str, expected: int
) -> None:
    response = await list_orders(client, page_size=page_size)
    assert response.status_code == 200
    assert len(response.json()) == expected


async def test_first_page_links_first_next_and_last(client: httpx.AsyncClient) -> None:
    response = await list_orders(client)
    assert response.headers["Link"] == (
        f'<{ORDERS}>; rel="first", <{ORDERS}?page=2>; rel="next", <{ORDERS}?page=50>; rel="last"'
    )


async def test_second_page_links_prev_without_a_page_parameter(client: httpx.AsyncClient) -> None:
    response = await list_orders(client, page=2)
    assert links(response) == {
        "first": ORDERS,
        "prev": ORDERS,
        "next": f"{ORDERS}?page=3",
        "last": f"{ORDERS}?page=50",
    }


async def test_middle_page_links_keep_other_parameters_sorted(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{ORDERS}?state=done&page=3&page_size=5&o=-created")
    total = int(response.headers["X-Result-Count"])
    last = math.ceil(total / 5)
    assert total > 20
    assert links(response) == {
        "first": f"{ORDERS}?o=-created&page_size=5&state=done",
        "prev": f"{ORDERS}?o=-created&page=2&page_size=5&state=done",
        "next": f"{ORDERS}?o=-created&page=4&page_size=5&state=done",
        "last": f"{ORDERS}?o=-created&page={last}&page_size=5&state=done",
    }


async def test_last_page_has_no_next_link(client: httpx.AsyncClient) -> None:
    response = await list_orders(client, page=50)
    assert len(response.json()) == 10
    assert links(response) == {
        "first": ORDERS,
        "prev": f"{ORDERS}?page=49",
        "last": f"{ORDERS}?page=50",
    }


async def test_single_page_links_first_and_last_without_page(client: httpx.AsyncClient) -> None:
    response = await list_orders(client, state="pending-project", page_size=300)
    assert links(response) == {
        "first": f"{ORDERS}?page_size=300&state=pending-project",
        "last": f"{ORDERS}?page_size=300&state=pending-project",
    }


async def test_following_next_links_visits_every_order_once_with_encoded_parameters(
    client: httpx.AsyncClient,
) -> None:
    params = {
        "created": "2024-01-01T00:00:00+00:00",
        "offering_slug": "small-vm,vega-slurm-cluster",
        "page_size": "7",
    }
    expected = await fetch_all(client, created=params["created"], offering_slug=params["offering_slug"])
    response = await list_orders(client, **params)
    seen = uuids(response.json())
    assert "%2B00%3A00" in links(response)["next"]
    while "next" in links(response):
        response = await client.get(links(response)["next"])
        assert response.status_code == 200
        seen += uuids(response.json())
    assert len(expected) > 14
    assert seen == uuids(expected)


@pytest.mark.parametrize("page", ["0", "-1", "51", "abc", "1.5"])
async def test_invalid_page_is_a_404(client: httpx.AsyncClient, page: str) -> None:
    response = await list_orders(client, page=page)
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page."}


async def test_empty_page_parameter_is_page_one_and_last_is_the_last_page(
    client: httpx.AsyncClient,
) -> None:
    first = await list_orders(client)
    assert uuids((await list_orders(client, page="")).json()) == uuids(first.json())
    last = await list_orders(client, page="last")
    assert uuids(last.json()) == uuids((await list_orders(client, page=50)).json())


async def test_empty_result_is_an_empty_first_page_and_no_second(
    client: httpx.AsyncClient,
) -> None:
    future = "2030-01-01T00:00:00Z"
    response = await list_orders(client, created=future)
    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["X-Result-Count"] == "0"
    same_query = f"{ORDERS}?created=2030-01-01T00%3A00%3A00Z"
    assert links(response) == {"first": same_query, "last": same_query}
    assert (await list_orders(client, created=future, page=2)).status_code == 404


async def test_head_counts_without_a_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/api/marketplace-orders/", params={"state": ["done", "erred"]})
    listed = await list_orders(client, state=["done", "erred"])
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["X-Result-Count"] == listed.headers["X-Result-Count"]
    assert response.headers["Link"] == listed.headers["Link"]
    invalid = await client.head("/api/marketplace-orders/", params={"page": 999})
    assert invalid.status_code == 404
    assert invalid.content == b""


# --- filters (§5) ---------------------------------------------------------------------


async def test_state_filter_ors_repeated_values(client: httpx.AsyncClient) -> None:
    everything = await fetch_all(client)
    both = await fetch_all(client, state=["done", "erred"])
    assert uuids(both) == [b["uuid"] for b in everything if b["state"] in ("done", "erred")]
    assert {b["state"] for b in both} == {"done", "erred"}


async def test_unknown_state_is_a_400_naming_the_value(client: httpx.AsyncClient) -> None:
    response = await list_orders(client, state=["done", "pending"])
    assert response.status_code == 400
    assert response.json() == {
        "state": ["Select a valid choice. pending is not one of the available choices."]
    }


async def test_type_filter_and_unknown_type(client: httpx.AsyncClient) -> None:
    everything = await fetch_all(client)
    updates = await fetch_all(client, type=["Update", "Terminate"])
    expected = [b["uuid"] for b in everything if b["type"] in ("Update", "Terminate")]
    assert uuids(updates) == expected
    assert 0 < len(expected) < 500
    response = await list_orders(client, type="create")
    assert response.status_code == 400
    assert response.json() == {"type": ["Select a valid choice. create is not one of the available choices."]}


async def test_several_invalid_parameters_are_reported_together(client: httpx.AsyncClient) -> None:
    response = await list_orders(client, state="x", created="yesterday", project_uuid="42")
    assert response.status_code == 400
    assert response.json() == {
        "state": ["Select a valid choice. x is not one of the available choices."],
        "created": ["Enter a valid date/time."],
        "project_uuid": ["Enter a valid UUID."],
    }


@pytest.mark.parametrize(
    "name",
    ["customer_uuid", "project_uuid", "provider_uuid", "offering_uuid", "category_uuid",
     "resource_uuid"],
)  # fmt: skip
async def test_uuid_filters_match_exactly_in_either_form(client: httpx.AsyncClient, name: str) -> None:
    everything = await fetch_all(client)
    wanted = everything[7][name]
    expected = [b["uuid"] for b in everything if b[name] == wanted]
    assert uuids(await fetch_all(client, **{name: wanted})) == expected
    assert uuids(await fetch_all(client, **{name: str(uuid.UUID(wanted))})) == expected
    assert 0 < len(expected) < 500
    response = await list_orders(client, **{name: "not-a-uuid"})
    assert response.status_code == 400
    assert response.json() == {name: ["Enter a valid UUID."]}


async def test_offering_type_is_repeatable_and_offering_slug_a_comma_list(
    client: httpx.AsyncClient,
) -> None:
    everything = await fetch_all(client)
    kinds = ("Marketplace.Slurm", "Support.OfferingTemplate")
    by_type = await fetch_all(client, offering_type=list(kinds))
    assert uuids(by_type) == [b["uuid"] for b in everything if b["offering_type"] in kinds]
    by_slug = await fetch_all(client, offering_slug="small-vm,vega-slurm-cluster")
    names = ("Small VM", "Vega Slurm cluster")
    assert uuids(by_slug) == [b["uuid"] for b in everything if b["offering_name"] in names]
    assert 0 < len(by_slug) < len(everything)


@pytest.mark.parametrize(
    ("after", "before"),
    [("created", "created_before"), ("modified", "modified_before")],
)
async def test_datetime_bounds_are_inclusive(client: httpx.AsyncClient, after: str, before: str) -> None:
    everything = await fetch_all(client)
    bound = everything[100][after]
    moment = isoparse(bound)
    from_bound = await fetch_all(client, **{after: bound})
    to_bound = await fetch_all(client, **{before: bound})
    assert uuids(from_bound) == [b["uuid"] for b in everything if isoparse(b[after]) >= moment]
    assert uuids(to_bound) == [b["uuid"] for b in everything if isoparse(b[after]) <= moment]
    assert everything[100]["uuid"] in uuids(from_bound)
    assert everything[100]["uuid"] in uuids(to_bound)


@pytest.mark.parametrize(
    "spelling",
    [
        lambda d: d.isoformat(),  # +00:00, as the client sends it
        lambda d: d.isoformat().replace("+00:00", "Z"),
        lambda d: d.replace(tzinfo=None).isoformat(),  # naive means UTC
        lambda d: d.replace(tzinfo=None).isoformat(sep=" "),
        lambda d: d.astimezone(timezone(timedelta(hours=2))).isoformat(),
    ],
)
async def test_datetime_filters_accept_the_usual_iso_spellings(
    client: httpx.AsyncClient, spelling: Callable[[datetime], str]
) -> None:
    everything = await fetch_all(client)
    moment = isoparse(everything[250]["created"])
    found = await fetch_all(client, created=spelling(moment))
    assert uuids(found) == uuids(everything[250:])


async def test_datetime_without_microseconds_is_accepted(client: httpx.AsyncClient) -> None:
    response = await list_orders(client, created="2025-01-02T03:04:05Z")
    assert response.status_code == 200


@pytest.mark.parametrize("name", ["created", "created_before", "modified", "modified_before"])
async def test_unparsable_datetime_is_a_400(client: httpx.AsyncClient, name: str) -> None:
    response = await list_orders(client, **{name: "2025-13-45T00:00:00Z"})
    assert response.status_code == 400
    assert response.json() == {name: ["Enter a valid date/time."]}


async def test_query_by_uuid_returns_just_that_order(client: httpx.AsyncClient) -> None:
    everything = await fetch_all(client)
    target = everything[42]["uuid"]
    assert uuids(await fetch_all(client, query=target)) == [target]
    assert uuids(await fetch_all(client, query=str(uuid.UUID(target)))) == [target]


async def test_query_text_matches_project_or_resource_name_case_insensitively(
    client: httpx.AsyncClient,
) -> None:
    everything = await fetch_all(client)
    word = everything[0]["project_name"].split()[0]

    def matches(body: Body) -> bool:
        fields = (body["project_name"], body["attributes"]["name"], body["slug"])
        return any(word.casefold() in value.casefold() for value in fields)

    found = await fetch_all(client, query=word.upper())
    assert uuids(found) == [b["uuid"] for b in everything if matches(b)]
    assert 0 < len(found) < 500
    resource = everything[3]["resource_name"]
    assert everything[3]["uuid"] in uuids(await fetch_all(client, query=resource[-7:].upper()))


async def test_query_with_an_unknown_uuid_falls_back_to_text(client: httpx.AsyncClient) -> None:
    response = await list_orders(client, query=uuid.uuid4().hex)
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    ("name", "state"),
    [("can_approve_as_consumer", "pending-consumer"), ("can_approve_as_provider", "pending-provider")],
)
async def test_can_approve_flags_restrict_to_the_pending_state(
    client: httpx.AsyncClient, name: str, state: str
) -> None:
    everything = await fetch_all(client)
    expected = [b["uuid"] for b in everything if b["state"] == state]
    assert expected
    assert uuids(await fetch_all(client, **{name: "true"})) == expected
    # Waldur's filter method narrows to the state for false as well.
    assert uuids(await fetch_all(client, **{name: "false"})) == expected
    assert len(await fetch_all(client, **{name: "maybe"})) == 500


async def test_filters_combine_with_and(client: httpx.AsyncClient) -> None:
    everything = await fetch_all(client)
    found = await fetch_all(client, state="done", offering_type="Marketplace.Slurm")
    expected = [
        b["uuid"] for b in everything if b["state"] == "done" and b["offering_type"] == "Marketplace.Slurm"
    ]
    assert uuids(found) == expected
    assert expected


async def test_field_trims_each_object(client: httpx.AsyncClient) -> None:
    response = await list_orders(client, field=["uuid", "state", "no_such_field"])
    assert [set(body) for body in response.json()] == [{"uuid", "state"}] * 10
    only_unknown = await list_orders(client, field="no_such_field")
    assert only_unknown.json() == [{}] * 10


# --- ordering (§5) --------------------------------------------------------------------


def _nulls_last(value: Any) -> tuple[bool, Any]:
    return (value is None, 0 if value is None else value)


SORT_KEYS: dict[str, Callable[[Body], Any]] = {
    "created": lambda b: isoparse(b["created"]),
    "cost": lambda b: _nulls_last(None if b["cost"] is None else Decimal(b["cost"])),
    "state": lambda b: STATE_CODES[b["state"]],
    "consumer_reviewed_at": lambda b: _nulls_last(
        None if b["consumer_reviewed_at"] is None else isoparse(b["consumer_reviewed_at"])
    ),
}


async def test_default_order_is_created_ascending(client: httpx.AsyncClient) -> None:
    everything = await fetch_all(client)
    created = [isoparse(b["created"]) for b in everything]
    assert created == sorted(created)
    assert len(set(created)) == len(created)


@pytest.mark.parametrize("term", [f"{sign}{key}" for key in SORT_KEYS for sign in ("", "-")])
async def test_each_ordering_term_sorts_with_postgres_nulls_and_ties_by_creation(
    client: httpx.AsyncClient, term: str
) -> None:
    everything = await fetch_all(client)  # created ascending = insertion order
    descending = term.startswith("-")
    expected = sorted(everything, key=SORT_KEYS[term.lstrip("-")], reverse=descending)
    assert uuids(await fetch_all(client, o=term)) == uuids(expected)


@pytest.mark.parametrize("spelling", [{"o": ["state", "-created"]}, {"o": "state,-created"}])
async def test_several_ordering_terms_apply_in_turn(
    client: httpx.AsyncClient, spelling: dict[str, Any]
) -> None:
    everything = await fetch_all(client)
    expected = sorted(everything, key=SORT_KEYS["created"], reverse=True)
    expected.sort(key=SORT_KEYS["state"])
    assert uuids(await fetch_all(client, **spelling)) == uuids(expected)


async def test_unknown_ordering_terms_are_ignored(client: httpx.AsyncClient) -> None:
    everything = await fetch_all(client)
    assert uuids(await fetch_all(client, o="modified")) == uuids(everything)
    by_cost = await fetch_all(client, o=["nonsense", "-cost"])
    assert uuids(by_cost) == uuids(await fetch_all(client, o="-cost"))


# --- retrieve -------------------------------------------------------------------------


async def test_retrieve_accepts_hex_dashed_and_uppercase_uuids(client: httpx.AsyncClient) -> None:
    body = (await list_orders(client)).json()[4]
    for spelling in (body["uuid"], str(uuid.UUID(body["uuid"])), body["uuid"].upper()):
        response = await client.get(f"/api/marketplace-orders/{spelling}/")
        assert response.status_code == 200
        assert response.json() == body


async def test_retrieve_refusals(client: httpx.AsyncClient) -> None:
    unknown = await client.get(f"/api/marketplace-orders/{uuid.uuid4().hex}/")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "No Order matches the given query."}
    garbage = await client.get("/api/marketplace-orders/not-a-uuid/")
    assert garbage.status_code == 404
    assert garbage.json() == {"detail": "Not found."}
    existing = (await list_orders(client)).json()[0]["uuid"]
    no_slash = await client.get(f"/api/marketplace-orders/{existing}")
    assert no_slash.status_code == 404


async def test_retrieve_honours_field(client: httpx.AsyncClient) -> None:
    order_uuid = (await list_orders(client)).json()[0]["uuid"]
    response = await client.get(f"/api/marketplace-orders/{order_uuid}/", params={"field": ["uuid", "cost"]})
    assert set(response.json()) == {"uuid", "cost"}


# --- bodies and seeded data (§2–3, §6) ------------------------------------------------

DATETIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")


async def test_every_body_is_a_valid_realistic_order(client: httpx.AsyncClient) -> None:
    for body in await fetch_all(client):
        parsed = OrderDetails.from_dict(body)
        assert parsed.additional_properties == {}
        assert re.fullmatch(r"[0-9a-f]{32}", body["uuid"])
        assert body["url"] == f"{ORDERS}{body['uuid']}/"
        assert body["offering"].startswith(f"{BASE}/api/")
        assert body["plan"].startswith(f"{BASE}/api/")
        assert DATETIME_RE.fullmatch(body["created"])
        assert DATETIME_RE.fullmatch(body["modified"])
        assert body["cost"] is None or re.fullmatch(r"\d+\.\d{10}", body["cost"])
        assert body["type"] in ("Create", "Update", "Terminate", "Restore")
        assert body["attributes"]["name"] == body["resource_name"]
        assert isinstance(body["limits"], dict)
        for name in NULLABLE_DATETIMES:
            assert body[name] is None or DATETIME_RE.fullmatch(body[name])
            assert body[name] is None or isoparse(body[name]).tzinfo is not None
        assert (body["completed_at"] is not None) == (body["state"] == "done")


async def test_timestamps_follow_the_lifecycle(client: httpx.AsyncClient) -> None:
    for body in await fetch_all(client):
        created, modified = isoparse(body["created"]), isoparse(body["modified"])
        assert NOW - timedelta(days=731) <= created <= modified <= NOW
        consumer = body["consumer_reviewed_at"]
        provider = body["provider_reviewed_at"]
        if consumer is not None:
            assert created <= isoparse(consumer) <= modified
            assert body["consumer_reviewed_by"]
        if provider is not None:
            assert consumer is not None
            assert isoparse(consumer) <= isoparse(provider) <= modified
        if body["state"] == "pending-consumer":
            assert consumer is None and provider is None
        if body["state"] == "pending-start-date":
            assert body["start_date"] > NOW.date().isoformat()
        if body["state"] == "erred":
            assert body["error_message"]


async def test_default_data_has_every_state_and_a_realistic_catalogue(
    client: httpx.AsyncClient,
) -> None:
    everything = await fetch_all(client)
    assert len(everything) == 500
    assert {b["state"] for b in everything} == set(STATES)
    assert {b["offering_type"] for b in everything} == {
        "Marketplace.Basic",
        "Marketplace.Slurm",
        "Support.OfferingTemplate",
    }
    assert len({b["customer_uuid"] for b in everything}) == 4
    assert len({b["provider_uuid"] for b in everything}) == 3
    assert len({b["offering_uuid"] for b in everything}) == 6
    assert len({b["uuid"] for b in everything}) == 500


async def test_same_seed_and_clock_give_the_same_orders() -> None:
    async with client_for(make_sim(seed=5, orders=60)) as one:
        first = await fetch_all(one)
    async with client_for(make_sim(seed=5, orders=60)) as two:
        second = await fetch_all(two)
    async with client_for(make_sim(seed=6, orders=60)) as three:
        other = await fetch_all(three)
    assert first == second
    assert not set(uuids(first)) & set(uuids(other))


async def test_store_changes_show_in_the_next_list() -> None:
    app = make_sim(orders=30)
    store = app.state.store
    async with client_for(app) as client:
        before = await fetch_all(client, state="canceled")
        order = next(o for o in store if o.state != "canceled")
        order.state = "canceled"
        store.save(order)
        newest = dataclasses.replace(order, uuid=uuid.uuid4().hex, created=NOW)
        store.add(newest)
        gone = before[0]["uuid"]
        store.remove(gone)
        after = await fetch_all(client, state="canceled")
    assert set(uuids(after)) == set(uuids(before)) - {gone} | {order.uuid, newest.uuid}
    assert uuids(after)[-1] == newest.uuid  # created last, so listed last


# --- latency and faults ---------------------------------------------------------------


async def test_latency_delays_api_requests_but_not_the_control_path() -> None:
    async with client_for(make_sim(orders=20, latency_ms=150)) as client:
        started = time.perf_counter()
        assert (await list_orders(client)).status_code == 200
        assert time.perf_counter() - started >= 0.15
        started = time.perf_counter()
        assert (await client.get("/__sim__/faults")).status_code == 200
        assert time.perf_counter() - started < 0.15


async def arm(client: httpx.AsyncClient, plan: dict[str, Any]) -> httpx.Response:
    response = await client.post("/__sim__/faults", json=plan)
    assert response.status_code == 200, response.text
    return response


async def test_status_fault_answers_drf_error_with_retry_after_once() -> None:
    async with client_for(make_sim(orders=20)) as client:
        await arm(client, {"status": 503, "retry_after": 2})
        failed = await list_orders(client)
        assert failed.status_code == 503
        assert failed.json() == {"detail": "Simulated failure."}
        assert failed.headers["Retry-After"] == "2"
        assert (await list_orders(client)).status_code == 200


async def test_count_fault_expires_after_count_requests() -> None:
    async with client_for(make_sim(orders=20)) as client:
        await arm(client, {"status": 500, "count": 3})
        codes = [(await list_orders(client)).status_code for _ in range(5)]
        state = (await client.get("/__sim__/faults")).json()
    assert codes == [500, 500, 500, 200, 200]
    assert state == {"plan": None, "remaining": None, "injected": 0}


async def test_rate_fault_is_deterministic_for_a_seed() -> None:
    patterns = []
    for _ in range(2):
        async with client_for(make_sim(orders=20)) as client:
            await arm(client, {"status": 502, "rate": 0.5, "seed": 11})
            patterns.append([(await list_orders(client)).status_code for _ in range(30)])
    assert patterns[0] == patterns[1]
    assert {200, 502} == set(patterns[0])


async def test_path_restricts_a_fault_and_control_paths_are_exempt() -> None:
    async with client_for(make_sim(orders=20), token=None) as client:
        await arm(client, {"status": 500, "count": 2, "path": "/api/marketplace-orders/"})
        assert (await client.get("/api/other/")).status_code == 404
        control = await client.get("/__sim__/faults")  # no token needed, not faulted
        assert control.status_code == 200
        assert control.json()["remaining"] == 2
        assert (await client.get("/api/marketplace-orders/")).status_code == 500
        assert (await client.get("/__sim__/faults")).json()["remaining"] == 1


async def test_faults_can_be_armed_in_process_through_app_state() -> None:
    app = make_sim(orders=20)
    app.state.faults.arm(FaultPlan(status=429, retry_after=1, count=1))
    async with client_for(app) as client:
        limited = await list_orders(client)
        assert (await list_orders(client)).status_code == 200
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"


async def test_malformed_fault_answers_200_with_invalid_json() -> None:
    async with client_for(make_sim(orders=20)) as client:
        await arm(client, {"malformed": True})
        response = await list_orders(client)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


async def test_latency_fault_delays_then_answers_normally() -> None:
    async with client_for(make_sim(orders=20)) as client:
        await arm(client, {"latency_ms": 200})
        started = time.perf_counter()
        response = await list_orders(client)
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert elapsed >= 0.2


async def test_delete_clears_the_plan() -> None:
    async with client_for(make_sim(orders=20)) as client:
        armed = await arm(client, {"status": 500, "count": 5})
        assert armed.json()["plan"]["status"] == 500
        assert (await client.delete("/__sim__/faults")).status_code == 204
        assert (await client.get("/__sim__/faults")).json()["plan"] is None
        assert (await list_orders(client)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"status": 500, "count": 2, "rate": 0.5}',
        b'{"status": 500, "malformed": true}',
        b'{"retry_after": 3}',
        b'{"status": "503"}',
        b'{"drop": true, "rate": 0}',
        b'{"status": 500, "colour": "red"}',
    ],
)
async def test_invalid_fault_plans_are_a_400(body: bytes) -> None:
    async with client_for(make_sim(orders=20)) as client:
        response = await client.post("/__sim__/faults", content=body)
        assert response.status_code == 400
        assert response.json()["detail"] == "Invalid fault plan."
        assert response.json()["errors"]
        assert (await client.get("/__sim__/faults")).json()["plan"] is None


def test_drop_fault_breaks_the_connection_mid_body() -> None:
    with running_server(make_sim(orders=20)) as url, httpx.Client(base_url=url) as client:
        client.post("/__sim__/faults", json={"drop": True}).raise_for_status()
        headers = {"Authorization": f"Token {TOKEN}"}
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/api/marketplace-orders/", headers=headers)
        assert client.get("/api/marketplace-orders/", headers=headers).status_code == 200


async def test_urls_point_at_the_host_that_was_asked(sim: Starlette) -> None:
    transport = httpx.ASGITransport(sim)
    headers = {"Authorization": f"Token {TOKEN}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://sim.example:9001", headers=headers
    ) as client:
        response = await list_orders(client, page=2)
    body = response.json()[0]
    assert urlsplit(body["url"]).netloc == "sim.example:9001"
    assert links(response)["first"] == "http://sim.example:9001/api/marketplace-orders/"


async def test_requests_are_counted_faulted_or_not_and_the_counts_reset() -> None:
    async with client_for(make_sim(orders=20)) as client:
        await arm(client, {"status": 503, "count": 1})
        await list_orders(client)
        await list_orders(client)
        await client.get("/__sim__/faults")  # control paths are not counted
        counts = (await client.get("/__sim__/requests")).json()
        assert counts == {"total": 2, "by_route": {"GET /api/marketplace-orders/": 2}}
        assert (await client.delete("/__sim__/requests")).status_code == 204
        assert (await client.get("/__sim__/requests")).json() == {"total": 0, "by_route": {}}
