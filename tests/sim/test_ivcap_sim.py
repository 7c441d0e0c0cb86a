"""The simulated IVCAP through HTTP, both dialects: auth, paging, filters, ordering, lifecycle, writes."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from gateway.sim.faults import FaultPlan
from gateway.sim.ivcap import create_ivcap_sim
from gateway.sim.ivcap_data import STATUSES, TERMINAL_STATUSES, IvcapOrder
from gateway.sim.ivcap_filters import decode_token
from tests.support.credentials import SIM_TOKEN as TOKEN
from tests.support.credentials import WRONG_TOKEN

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
BASE = "http://testserver"
TOKEN_TEXT = re.compile(r"^[A-Za-z0-9_-]+$")  # base64url without padding
Body = dict[str, Any]


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_sim(**options: Any) -> Starlette:
    options.setdefault("clock", lambda: NOW)
    return create_ivcap_sim(token=TOKEN, **options)


def client_for(app: Starlette, *, token: str | None = TOKEN) -> httpx.AsyncClient:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE, headers=headers)


def enc(urn: str) -> str:
    return quote(urn, safe="")


@pytest.fixture(scope="module")
def sim() -> Starlette:
    return make_sim()


@pytest.fixture(scope="module")
def legacy_sim() -> Starlette:
    return make_sim(dialect="legacy")


@pytest.fixture
async def client(sim: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sim) as client:
        yield client


@pytest.fixture
async def legacy(legacy_sim: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(legacy_sim) as client:
        yield client


def links(body: Body) -> dict[str, str]:
    return {entry["rel"]: entry["href"] for entry in body["links"]}


async def walk(client: httpx.AsyncClient, **params: Any) -> list[Body]:
    """Every item of a current-dialect listing, following `next` links as the real client does."""
    response = await client.get("/1/orders", params={"limit": 50, **params})
    items: list[Body] = []
    for _ in range(1000):
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        following = links(body).get("next")
        if following is None:
            return items
        # as ivcap_client.utils.set_page does: everything after `page=` is the token
        response = await client.get("/1/orders", params={"page": page_token(following), "limit": 50})
    raise AssertionError("paging never ended")


def page_token(href: str) -> str:
    return urlsplit(href).query.removeprefix("page=")


def ids(bodies: list[Body]) -> list[str]:
    return [body["id"] for body in bodies]


def oracle(sim: Starlette, keep: Callable[[IvcapOrder], bool], at: datetime = NOW) -> list[str]:
    """Brute force: the ids passing ``keep``, newest first, ties by id descending."""
    rows = [o for o in sim.state.store if o.ordered_at <= at and keep(o)]
    return [o.id for o in sorted(rows, key=lambda o: (o.ordered_at, o.id), reverse=True)]


# --- authentication (§1) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, f"Bearer {WRONG_TOKEN}", f"Token {TOKEN}", "Bearer", TOKEN],
    ids=["none", "wrong-token", "token-keyword", "keyword-alone", "no-keyword"],
)
@pytest.mark.parametrize("dialect", ["current", "legacy"])
@pytest.mark.parametrize("path", ["/1/orders", "/1/orders/urn%3Aivcap%3Aorder%3Ax"])
async def test_missing_or_wrong_credentials_are_401_without_a_body(
    sim: Starlette, legacy_sim: Starlette, authorization: str | None, dialect: str, path: str
) -> None:
    app = sim if dialect == "current" else legacy_sim
    headers = {} if authorization is None else {"Authorization": authorization}
    async with client_for(app, token=None) as client:
        response = await client.get(path, headers=headers)
    assert response.status_code == 401 and response.content == b""


async def test_the_bearer_keyword_is_case_insensitive(sim: Starlette) -> None:
    async with client_for(sim, token=None) as client:
        response = await client.get("/1/orders", headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200


async def test_unknown_paths_and_methods_are_typed_errors(client: httpx.AsyncClient) -> None:
    missing = await client.get("/1/nothing")
    assert missing.status_code == 404 and set(missing.json()) == {"id", "message"}
    wrong = await client.delete("/1/orders")
    assert wrong.status_code == 405 and "message" in wrong.json()


# --- list shape and pagination (§3, §5) ---------------------------------------------------


async def test_list_is_ten_items_with_links_and_at_time(client: httpx.AsyncClient) -> None:
    response = await client.get("/1/orders")
    body = response.json()
    assert response.status_code == 200 and set(body) == {"items", "links", "at-time"}
    assert len(body["items"]) == 10 and body["at-time"] == "2025-06-01T12:00:00Z"
    assert all(set(link) == {"rel", "href", "type"} for link in body["links"])
    assert [link["rel"] for link in body["links"]] == ["self", "first", "next"]
    for item in body["items"]:
        assert {"id", "status", "service", "account", "href", "ordered-at"} <= set(item)
        assert set(item) <= {
            "id",
            "name",
            "status",
            "service",
            "account",
            "href",
            "ordered-at",
            "started-at",
            "finished-at",
        }
        assert item["href"] == f"{BASE}/1/orders/{item['id']}"


async def test_next_link_is_exactly_page_and_a_url_safe_token(client: httpx.AsyncClient) -> None:
    body = (await client.get("/1/orders", params={"limit": 3, "filter": "status eq 'failed'"})).json()
    following = links(body)["next"]
    prefix = f"{BASE}/1/orders?page="
    assert following.startswith(prefix)
    assert TOKEN_TEXT.match(following.removeprefix(prefix))
    assert links(body)["self"] == f"{BASE}/1/orders?limit=3&filter=status+eq+%27failed%27"
    first = parse_qs(urlsplit(links(body)["first"]).query)
    assert first == {
        "limit": ["3"],
        "order-by": ["ordered-at"],
        "order-desc": ["true"],
        "filter": ["status eq 'failed'"],
    }


@pytest.mark.parametrize("limit", ["0", "51", "-1", "ten", "1.5", ""])
async def test_limit_out_of_range_is_a_422_naming_it(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get("/1/orders", params={"limit": limit})
    assert response.status_code == 422
    assert response.json() == {
        "name": "limit",
        "message": "'limit' must be an integer from 1 to 50",
        "value": limit,
    }


async def test_limit_bounds_are_inclusive(client: httpx.AsyncClient) -> None:
    assert len((await client.get("/1/orders", params={"limit": 1})).json()["items"]) == 1
    assert len((await client.get("/1/orders", params={"limit": 50})).json()["items"]) == 50


async def test_walking_next_links_visits_every_order_once_in_order(
    client: httpx.AsyncClient, sim: Starlette
) -> None:
    walked = await walk(client)
    assert ids(walked) == oracle(sim, lambda o: True)
    assert len(walked) == 500


async def test_with_page_every_other_parameter_but_limit_is_ignored(client: httpx.AsyncClient) -> None:
    first = (
        await client.get("/1/orders", params={"limit": 5, "order-by": "name", "order-desc": "false"})
    ).json()
    token = page_token(links(first)["next"])
    plain = (await client.get("/1/orders", params={"page": token, "limit": 5})).json()
    noisy = await client.get(
        "/1/orders",
        params={
            "page": token,
            "limit": 5,
            "filter": "((garbage",
            "order-by": "bogus",
            "order-desc": "maybe",
            "at-time": "never",
        },
    )
    assert noisy.status_code == 200 and noisy.json()["items"] == plain["items"]
    names = [i.get("name", "") for i in first["items"] + plain["items"]]
    assert names == sorted(names)  # the token kept the original order
    assert (
        len((await client.get("/1/orders", params={"page": token})).json()["items"]) == 10
    )  # limit's default


@pytest.mark.parametrize("token", ["garbage!", "e30", "eyJmIjoxfQ", "bnVsbA"])
async def test_a_page_token_this_server_did_not_issue_is_a_422(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get("/1/orders", params={"page": token})
    assert response.status_code == 422 and response.json()["name"] == "page"


async def test_the_last_page_has_no_next_link(client: httpx.AsyncClient) -> None:
    body = (await client.get("/1/orders", params={"limit": 50, "filter": "status eq 'scheduled'"})).json()
    assert 0 < len(body["items"]) < 50 and "next" not in links(body)
    empty = (await client.get("/1/orders", params={"filter": "name eq 'no such order'"})).json()
    assert empty["items"] == [] and [link["rel"] for link in empty["links"]] == ["self", "first"]


async def test_a_page_token_encodes_filter_order_time_and_offset(client: httpx.AsyncClient) -> None:
    params = {
        "limit": 2,
        "filter": "status eq 'failed'",
        "order-desc": "false",
        "at-time": "2025-05-01T00:00:00Z",
    }
    body = (await client.get("/1/orders", params=params)).json()
    token = page_token(links(body)["next"])
    assert decode_token(token) == {
        "f": "status eq 'failed'",
        "o": "ordered-at",
        "d": False,
        "t": "2025-05-01T00:00:00Z",
        "n": 2,
    }


# --- filter grammar (our decision for §5's unpublished one) ---------------------------------


async def test_filters_match_a_brute_force_oracle(client: httpx.AsyncClient, sim: Starlette) -> None:
    store = sim.state.store
    service, account = store.services[0].id, store.accounts[1].id
    cases: list[tuple[str, Callable[[IvcapOrder], bool]]] = [
        ("status eq 'succeeded'", lambda o: o.status_at(NOW) == "succeeded"),
        ("status ne 'succeeded'", lambda o: o.status_at(NOW) != "succeeded"),
        ("name ~= 'Fire risk%'", lambda o: o.name is not None and o.name.startswith("Fire risk")),
        ("name ~= '%Lot 1%'", lambda o: o.name is not None and "Lot 1" in o.name),
        ("name ne 'Fire risk for Lot 2'", lambda o: o.name is not None and o.name != "Fire risk for Lot 2"),
        ("name lt 'F'", lambda o: o.name is not None and o.name < "F"),
        (f"service eq '{service}'", lambda o: o.service.id == service),
        (
            f"account eq '{account}' AnD status eq 'failed'",
            lambda o: o.account.id == account and o.status_at(NOW) == "failed",
        ),
        ("ordered-at ge '2025-01-01T00:00:00Z'", lambda o: o.ordered_at >= datetime(2025, 1, 1, tzinfo=UTC)),
        (
            "ordered-at lt '2025-01-01T10:00:00+10:00'",
            lambda o: o.ordered_at < datetime(2025, 1, 1, tzinfo=UTC),
        ),
        (
            "ordered-at gt '2024-06-01T00:00:00' and ordered-at le '2024-12-01T00:00:00Z'",
            lambda o: datetime(2024, 6, 1, tzinfo=UTC) < o.ordered_at <= datetime(2024, 12, 1, tzinfo=UTC),
        ),
    ]
    for expression, keep in cases:
        expected = oracle(sim, keep)
        assert expected, expression  # each case selects something
        assert ids(await walk(client, filter=expression)) == expected, expression


async def test_like_treats_only_percent_as_a_wildcard_and_quotes_double(client: httpx.AsyncClient) -> None:
    assert (await client.get("/1/orders", params={"filter": "name ~= 'Fire risk for Lot _'"})).json()[
        "items"
    ] == []
    quoted = await client.get("/1/orders", params={"filter": "name eq 'O''Brien''s farm'"})
    assert quoted.status_code == 200 and quoted.json()["items"] == []
    assert (await client.get("/1/orders", params={"filter": "  "})).status_code == 200


@pytest.mark.parametrize(
    "expression",
    [
        "status = 'failed'",
        "status eq failed",
        "status eq 'failed' or status eq 'error'",
        "(status eq 'failed')",
        "bogus eq 'x'",
        "ordered_at ge '2025-01-01T00:00:00Z'",  # the legacy field name
        "ordered-at ge 'yesterday'",
        "ordered-at ~= '2025%'",
        "status eq 'failed' and",
        "status eq 'failed' garbage",
        "status eq 'unterminated",
        "status eq'failed'",
    ],
)
async def test_malformed_filters_are_a_400_bad_request(client: httpx.AsyncClient, expression: str) -> None:
    response = await client.get("/1/orders", params={"filter": expression})
    assert response.status_code == 400
    assert set(response.json()) == {"message"} and response.json()["message"].startswith("invalid filter")


# --- ordering -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order_by", "key"),
    [
        ("ordered-at", lambda b: b["ordered-at"]),
        ("name", lambda b: b.get("name", "")),
        ("status", lambda b: b["status"]),
    ],
)
@pytest.mark.parametrize("desc", ["true", "false"])
async def test_each_ordering_breaks_ties_by_id_in_its_direction(
    client: httpx.AsyncClient, order_by: str, key: Callable[[Body], str], desc: str
) -> None:
    walked = await walk(client, **{"order-by": order_by, "order-desc": desc})
    keys = [(key(body), body["id"]) for body in walked]
    assert keys == sorted(keys, reverse=desc == "true") and len(keys) == 500
    assert len({k for k, _ in keys}) < len(keys)  # there are ties to break


@pytest.mark.parametrize(
    ("name", "value"), [("order-by", "price"), ("order-desc", "yes"), ("at-time", "soon")]
)
async def test_bad_ordering_and_time_parameters_are_422(
    client: httpx.AsyncClient, name: str, value: str
) -> None:
    response = await client.get("/1/orders", params={name: value})
    assert (
        response.status_code == 422 and response.json()["name"] == name and response.json()["value"] == value
    )


# --- statuses, lifecycle and at-time (§6) ---------------------------------------------------


async def test_seeded_orders_show_every_status_mostly_terminal_with_consistent_times(
    client: httpx.AsyncClient,
) -> None:
    walked = await walk(client)
    counts = Counter(body["status"] for body in walked)
    assert set(counts) == set(STATUSES)
    assert sum(counts[s] for s in TERMINAL_STATUSES) > 0.8 * len(walked)
    for body in walked:
        assert ("finished-at" in body) == (body["status"] in TERMINAL_STATUSES)
        if body["status"] in {"executing", "unknown", "succeeded", "failed"}:
            assert body["started-at"] >= body["ordered-at"]  # these all went through executing
        if body["status"] in {"pending", "scheduled"}:
            assert "started-at" not in body


async def test_a_fake_clock_watches_a_created_order_move_through_its_lifecycle() -> None:
    clock = FakeClock(NOW)
    async with client_for(make_sim(orders=12, clock=clock)) as client:
        service = (await client.get("/1/orders", params={"limit": 1})).json()["items"][0]["service"]
        created = await client.post("/1/orders", json={"service": service, "parameters": [], "name": "Run 1"})
        assert created.status_code == 200
        order = created.json()
        path = f"/1/orders/{enc(order['id'])}"
        seen = [order["status"]]
        for seconds in (2, 5, 59, 1):
            clock.advance(seconds=seconds)
            seen.append((await client.get(path)).json()["status"])
        assert seen == ["pending", "scheduled", "executing", "executing", "succeeded"]
        final = (await client.get(path)).json()
        assert (
            final["started-at"] == "2025-06-01T12:00:07Z" and final["finished-at"] == "2025-06-01T12:01:07Z"
        )
        assert final["products"]["items"] and "finished-at" not in order
        schemas = {i["schema"] for i in (await client.get(f"{path}/metadata")).json()["items"]}
        assert schemas == {"urn:ivcap:schema:order-placed.1", "urn:ivcap:schema:order-finished.1"}


async def test_seeded_running_orders_move_on_as_the_clock_advances() -> None:
    clock = FakeClock(NOW)
    app = make_sim(orders=100, clock=clock)
    pending = [o for o in app.state.store if o.status_at(NOW) == "pending"]
    assert pending
    async with client_for(app) as client:
        clock.now = max(o.times[1] for o in pending)
        statuses = [(await client.get(f"/1/orders/{enc(o.id)}")).json()["status"] for o in pending]
    assert "pending" not in statuses


async def test_at_time_lists_the_collection_as_it_stood_then(
    client: httpx.AsyncClient, sim: Starlette
) -> None:
    then = NOW - timedelta(minutes=30)
    walked = await walk(client, **{"at-time": "2025-06-01T11:30:00Z"})
    assert ids(walked) == oracle(sim, lambda o: True, at=then)
    assert len(walked) < 500
    by_id = {o.id: o for o in sim.state.store}
    assert all(body["status"] == by_id[body["id"]].status_at(then) for body in walked)
    body = (await client.get("/1/orders", params={"at-time": "2025-06-01T11:30:00+00:00"})).json()
    assert body["at-time"] == "2025-06-01T11:30:00Z"


# --- read, products, metadata (§2–4) --------------------------------------------------------


def an_order(sim: Starlette, keep: Callable[[IvcapOrder], bool]) -> IvcapOrder:
    return next(o for o in sim.state.store if keep(o))


async def test_read_decodes_the_percent_encoded_urn(client: httpx.AsyncClient, sim: Starlette) -> None:
    order = an_order(sim, lambda o: o.status_at(NOW) == "succeeded")
    encoded = await client.get(f"/1/orders/{enc(order.id)}")
    plain = await client.get(f"/1/orders/{order.id}")
    assert encoded.status_code == plain.status_code == 200 and encoded.json() == plain.json()
    body = encoded.json()
    assert set(body) == {
        "id",
        "name",
        "status",
        "service",
        "account",
        "ordered-at",
        "started-at",
        "finished-at",
        "parameters",
        "tags",
        "links",
        "products",
    } - ({"name"} if order.name is None else set())
    assert body["parameters"] == [{"name": n, "value": v} for n, v in order.parameters]
    assert links(body) == {"self": f"{BASE}/1/orders/{order.id}"}


async def test_an_encoded_slash_stays_inside_the_id(client: httpx.AsyncClient, sim: Starlette) -> None:
    order = an_order(sim, lambda o: o.status_at(NOW) == "succeeded")
    response = await client.get(f"/1/orders/{enc(order.id + '/products')}")
    assert response.status_code == 404 and response.json() == {
        "id": f"{order.id}/products",
        "message": "order not found",
    }
    assert (await client.get(f"/1/orders/{enc(order.id)}/nothing")).status_code == 404
    assert (await client.get(f"/1/orders/{enc(order.id)}/logs")).status_code == 501


async def test_products_of_a_succeeded_order_page_with_absolute_links(
    client: httpx.AsyncClient, sim: Starlette
) -> None:
    order = an_order(sim, lambda o: o.status_at(NOW) == "succeeded" and len(o.products) >= 2)
    path = f"/1/orders/{enc(order.id)}/products"
    first = (await client.get(path, params={"limit": 1})).json()
    following = links(first)["next"]
    assert following.startswith(f"{BASE}/1/orders/{order.id}/products?page=")
    second = (await client.get(path, params={"page": page_token(following), "limit": 1})).json()
    items = first["items"] + second["items"]
    assert [i["name"] for i in items] == sorted((p.name for p in order.products), reverse=True)[:2]
    product = items[0]
    assert (
        product["href"] == f"{BASE}/1/artifacts/{product['id']}"
        and product["data-href"] == product["href"] + "/blob"
    )
    assert set(product) == {"id", "name", "status", "mime-type", "size", "href", "data-href"}
    embedded = (await client.get(f"/1/orders/{enc(order.id)}")).json()["products"]
    assert [i["id"] for i in embedded["items"]] == [
        p.id for p in sorted(order.products, key=lambda p: p.name, reverse=True)
    ]
    running = an_order(sim, lambda o: o.status_at(NOW) == "executing")
    assert (await client.get(f"/1/orders/{enc(running.id)}/products")).json()["items"] == []


@pytest.mark.parametrize("suffix", ["", "/products", "/metadata"])
async def test_an_unknown_order_is_a_typed_404(client: httpx.AsyncClient, suffix: str) -> None:
    urn = "urn:ivcap:order:00000000-0000-4000-8000-000000000000"
    response = await client.get(f"/1/orders/{enc(urn)}{suffix}")
    assert response.status_code == 404 and response.json() == {"id": urn, "message": "order not found"}


async def test_metadata_can_be_added_and_read_back(sim: Starlette) -> None:
    async with client_for(make_sim(orders=20)) as client:
        order = (await client.get("/1/orders", params={"limit": 1})).json()["items"][0]["id"]
        aspect = {"$schema": "urn:example:schema:survey.1", "$entity": order, "plots": 4}
        created = await client.post(
            "/1/aspects", params={"entity": order, "schema": "urn:example:schema:survey.1"}, json=aspect
        )
        assert created.status_code == 200 and re.match(
            r"^urn:ivcap:aspect:[0-9a-f-]{36}$", created.json()["id"]
        )
        aspect_id = created.json()["id"]
        meta = (await client.get(f"/1/orders/{enc(order)}/metadata")).json()
        assert aspect_id in [i["id"] for i in meta["items"]]
        assert all(set(i) == {"id", "schema", "content-type", "href"} for i in meta["items"])
        listed = await client.get(
            "/1/aspects", params={"entity": order, "schema": "urn:example:%", "include-content": "true"}
        )
        body = listed.json()
        assert [i["id"] for i in body["items"]] == [aspect_id] and body["items"][0]["content"] == aspect
        assert body["entity"] == order and "at-time" in body
        read = (await client.get(f"/1/aspects/{enc(aspect_id)}")).json()
        assert (
            read["entity"] == order
            and read["content"] == aspect
            and read["schema"] == "urn:example:schema:survey.1"
        )
        assert {"account", "asserter", "policy", "valid-from", "links", "content-type"} <= set(read)


@pytest.mark.parametrize(
    ("params", "body", "status", "name"),
    [
        ({"schema": "urn:x:s.1"}, b"{}", 422, "entity"),
        ({"entity": "urn:ivcap:order:x"}, b"{}", 422, "schema"),
        ({"entity": "e", "schema": "s", "policy": "open"}, b"{}", 422, "policy"),
        ({"entity": "e", "schema": "s"}, b"[1]", 400, None),
        ({"entity": "e", "schema": "s"}, b"{not json", 400, None),
    ],
)
async def test_aspect_create_refusals(
    client: httpx.AsyncClient, params: dict[str, str], body: bytes, status: int, name: str | None
) -> None:
    response = await client.post(
        "/1/aspects", params=params, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status and "message" in response.json()
    assert response.json().get("name") == name


async def test_aspect_list_pages_and_refuses_what_is_not_simulated(client: httpx.AsyncClient) -> None:
    first = (
        await client.get("/1/aspects", params={"schema": "urn:ivcap:schema:order-placed.1", "limit": 50})
    ).json()
    assert len(first["items"]) == 50 and {i["schema"] for i in first["items"]} == {
        "urn:ivcap:schema:order-placed.1"
    }
    valid_from = [i["valid-from"] for i in first["items"]]
    assert valid_from == sorted(valid_from, reverse=True)
    second = (
        await client.get("/1/aspects", params={"page": page_token(links(first)["next"]), "limit": 50})
    ).json()
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}
    assert (await client.get("/1/aspects", params={"filter": "schema eq 'x'"})).status_code == 501
    assert (await client.get("/1/aspects", params={"order-by": "price"})).status_code == 422
    assert (await client.get(f"/1/aspects/{enc('urn:ivcap:aspect:nope')}")).status_code == 404


# --- create (§4) -------------------------------------------------------------------------


async def test_create_answers_200_with_the_new_order_which_is_then_listed() -> None:
    async with client_for(make_sim(orders=20)) as client:
        service = (await client.get("/1/orders", params={"limit": 1})).json()["items"][0]["service"]
        request = {
            "service": service,
            "name": "Fire risk for Lot 9",
            "tags": ["t"],
            "parameters": [{"name": "region", "value": "Upper Valley"}],
        }
        response = await client.post("/1/orders", json=request)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "pending" and body["ordered-at"] == "2025-06-01T12:00:00Z"
        assert body["name"] == "Fire risk for Lot 9" and body["tags"] == ["t"] and body["service"] == service
        assert body["parameters"] == request["parameters"] and body["products"] == {"items": [], "links": []}
        assert (await client.get("/1/orders", params={"limit": 1})).json()["items"][0]["id"] == body["id"]


@pytest.mark.parametrize(
    ("request_body", "status", "fields"),
    [
        (b"{not json", 400, {"message"}),
        (b"[]", 400, {"message"}),
        (b'{"parameters": []}', 400, {"message"}),
        (b'{"service": "urn:ivcap:service:00000000-0000-4000-8000-000000000000"}', 400, {"message"}),
        (
            b'{"service": "urn:ivcap:service:00000000-0000-4000-8000-000000000000", "parameters": [{"name": "a", "value": 1}]}',
            400,
            {"message"},
        ),
        (b'{"service": "fire-risk", "parameters": []}', 422, {"name", "message", "value"}),
        (
            b'{"service": "urn:ivcap:service:00000000-0000-4000-8000-000000000000", "parameters": []}',
            404,
            {"id", "message"},
        ),
    ],
)
async def test_create_refusals_are_typed(
    client: httpx.AsyncClient, request_body: bytes, status: int, fields: set[str]
) -> None:
    response = await client.post(
        "/1/orders", content=request_body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status and set(response.json()) == fields


# --- determinism and faults ------------------------------------------------------------------


async def test_same_seed_and_clock_give_the_same_answers_and_another_seed_does_not() -> None:
    bodies = []
    for seed in (7, 7, 8):
        async with client_for(make_sim(orders=60, seed=seed)) as client:
            bodies.append((await client.get("/1/orders", params={"limit": 50})).json())
    assert bodies[0] == bodies[1] and bodies[0] != bodies[2]


async def test_faults_are_wired_with_an_ivcap_shaped_body() -> None:
    app = make_sim(orders=12)
    async with client_for(app) as client:
        armed = await client.post("/__sim__/faults", json={"status": 422, "count": 1, "path": "/1/orders"})
        assert armed.status_code == 200
        failed = await client.get("/1/orders")
        assert failed.status_code == 422 and {"name", "message"} <= set(failed.json())
        assert (await client.get("/1/orders")).status_code == 200
        app.state.faults.arm(FaultPlan(status=503, count=1))
        assert (await client.get("/1/orders")).status_code == 503
        assert (await client.get("/__sim__/faults", headers={"Authorization": ""})).json()["plan"] is None


# --- the legacy dialect (§9) -------------------------------------------------------------------

LEGACY_ROW_KEYS = {
    "id",
    "name",
    "status",
    "ordered_at",
    "started_at",
    "finished_at",
    "account_id",
    "service_id",
    "links",
}


async def legacy_walk(client: httpx.AsyncClient, **params: Any) -> list[Body]:
    response = await client.get("/1/orders", params={"limit": 50, **params})
    rows: list[Body] = []
    for _ in range(1000):
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body["orders"]
        if body["links"]["next"] is None:
            return rows
        response = await client.get(body["links"]["next"])
    raise AssertionError("paging never ended")


async def test_legacy_list_has_the_old_shape_and_four_statuses(legacy: httpx.AsyncClient) -> None:
    body = (await legacy.get("/1/orders")).json()
    assert set(body) == {"links", "orders"} and set(body["links"]) == {"first", "next", "self"}
    assert len(body["orders"]) == 10 and all(set(row) == LEGACY_ROW_KEYS for row in body["orders"])
    following = body["links"]["next"]
    assert re.match(rf"^{BASE}/1/orders\?pageToken=[A-Za-z0-9_-]+&limit=10$", following)
    rows = await legacy_walk(legacy)
    assert len(rows) == len({row["id"] for row in rows}) == 500
    assert {row["status"] for row in rows} == {"pending", "executing", "finished", "error"}


async def test_legacy_statuses_follow_the_current_ones(
    legacy: httpx.AsyncClient, legacy_sim: Starlette
) -> None:
    expected = {
        "pending": "pending",
        "scheduled": "pending",
        "executing": "executing",
        "unknown": "executing",
        "succeeded": "finished",
        "failed": "error",
        "error": "error",
    }
    by_id = {o.id: o for o in legacy_sim.state.store}
    for row in await legacy_walk(legacy):
        assert row["status"] == expected[by_id[row["id"]].status_at(NOW)]


async def test_legacy_filter_orderby_and_offsets(legacy: httpx.AsyncClient, legacy_sim: Starlette) -> None:
    service = legacy_sim.state.store.services[2].id
    rows = await legacy_walk(
        legacy,
        **{"$filter": f"service_id eq '{service}' and status eq 'finished'", "$orderby": "ordered_at asc"},
    )
    expected = oracle(legacy_sim, lambda o: o.service.id == service and o.status_at(NOW) == "succeeded")
    assert [row["id"] for row in rows] == expected[::-1]
    all_rows = await legacy_walk(legacy)
    skipped = (await legacy.get("/1/orders", params={"$skip": 7, "$top": 3})).json()["orders"]
    assert [r["id"] for r in skipped] == [r["id"] for r in all_rows[7:10]]
    offset = (await legacy.get("/1/orders", params={"offset": 7, "limit": 3, "$select": "id"})).json()[
        "orders"
    ]
    assert offset == skipped
    names = await legacy_walk(legacy, **{"$orderby": "name desc, ordered_at"})
    keys = [row["name"] or "" for row in names]
    assert keys == sorted(keys, reverse=True)


@pytest.mark.parametrize(
    "params",
    [
        {"$filter": "service eq 'x'"},  # the current field name
        {"$filter": "status eq 'finished' or status eq 'error'"},
        {"$orderby": "ordered-at desc"},
        {"$orderby": "name sideways"},
        {"limit": "51"},
        {"$top": "0"},
        {"offset": "-1"},
        {"pageToken": "not-a-token"},
    ],
)
async def test_legacy_refusals_are_400_with_a_message(
    legacy: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await legacy.get("/1/orders", params=params)
    assert response.status_code == 400 and set(response.json()) == {"message"}


async def test_legacy_page_token_ignores_other_parameters(legacy: httpx.AsyncClient) -> None:
    first = (await legacy.get("/1/orders", params={"limit": 4, "$orderby": "name asc"})).json()
    token = parse_qs(urlsplit(first["links"]["next"]).query)["pageToken"][0]
    plain = (await legacy.get("/1/orders", params={"pageToken": token, "limit": 4})).json()
    noisy = (
        await legacy.get("/1/orders", params={"pageToken": token, "limit": 4, "$filter": "x", "offset": "9"})
    ).json()
    assert noisy["orders"] == plain["orders"] and len(plain["orders"]) == 4


async def test_legacy_read_has_object_refs_and_a_product_array(
    legacy: httpx.AsyncClient, legacy_sim: Starlette
) -> None:
    order = an_order(legacy_sim, lambda o: o.status_at(NOW) == "succeeded")
    body = (await legacy.get(f"/1/orders/{enc(order.id)}")).json()
    assert body["status"] == "finished" and body["finished_at"] is not None
    assert set(body["account"]) == {"id", "links"} and body["account"]["id"] == order.account.id
    assert body["service"]["id"] == order.service.id and "service_id" not in body
    assert isinstance(body["products"], list) and {"mime_type", "data_href"} <= set(body["products"][0])
    missing = await legacy.get(f"/1/orders/{enc('urn:ivcap:order:00000000-0000-4000-8000-000000000000')}")
    assert missing.status_code == 404 and set(missing.json()) == {"message"}


async def test_legacy_create_takes_the_old_body() -> None:
    app = make_sim(orders=12, dialect="legacy")
    async with client_for(app) as client:
        store = app.state.store
        service, account = store.services[0].id, store.accounts[3].id
        request = {
            "serviceID": service,
            "accountID": account,
            "name": "Old style",
            "parameters": [{"name": "region", "value": "x"}],
            "metadata": [{"schema": "urn:example:schema:note.1", "aspect": {"note": "hi"}}],
        }
        response = await client.post("/1/orders", json=request)
        assert response.status_code == 200
        body = response.json()
        assert (
            body["status"] == "pending"
            and body["account"]["id"] == account
            and body["service"]["id"] == service
        )
        assert "urn:example:schema:note.1" in {m["schema"] for m in body["metadata"]}
        current_style = await client.post("/1/orders", json={"service": service, "parameters": []})
        assert current_style.status_code == 400
        unknown = await client.post("/1/orders", json=request | {"serviceID": "urn:ivcap:service:nope"})
        assert unknown.status_code == 404 and set(unknown.json()) == {"message"}
