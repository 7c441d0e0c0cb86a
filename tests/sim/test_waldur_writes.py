"""The simulated Waldur's writes through HTTP: create, the §6 state machine, refusals and stamps."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dateutil.parser import isoparse
from starlette.applications import Starlette
from waldur_api_client.models.order_details import OrderDetails
from waldur_api_client.models.public_offering_details import PublicOfferingDetails

from gateway.sim.waldur import create_waldur_sim
from gateway.sim.waldur_catalogue import Offering
from gateway.sim.waldur_data import Attachment, WaldurOrder, WaldurStore
from tests.support.credentials import SIM_TOKEN as TOKEN

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
BASE = "http://testserver"
ORDERS = "/api/marketplace-orders/"
SLURM, BASIC, SUPPORT = "Marketplace.Slurm", "Marketplace.Basic", "Support.OfferingTemplate"
STATES = ("pending-consumer", "pending-provider", "pending-project", "pending-start-date",
          "executing", "done", "erred", "canceled", "rejected")  # fmt: skip
PENDING = ("pending-consumer", "pending-provider")
ATTACHABLE = ("pending-project", "pending-consumer", "pending-provider")
# endpoint → (states its StateValidator lists, in order; offering types; success status), §6.
# Written out here rather than imported, so the simulator is checked against the notes.
EXPECTED: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...] | None, int]] = {
    "approve_by_consumer": (("pending-consumer",), None, 200),
    "approve_by_provider": (("pending-provider",), None, 200),
    "reject_by_consumer": (("pending-consumer",), None, 200),
    "reject_by_provider": (("pending-provider",), None, 200),
    "cancel": (("pending-consumer", "pending-provider", "executing"), (BASIC, SUPPORT), 202),
    "set_state_executing": (("pending-consumer", "pending-provider", "erred"), (SLURM,), 200),
    "set_state_done": (("executing",), (SLURM, BASIC, SUPPORT), 200),
    "set_state_erred": (None, (SLURM,), 200),
    "set_backend_id": (None, None, 200),
    "update_attachment": (ATTACHABLE, None, 200),
    "delete_attachment": (ATTACHABLE, None, 204),
    "unlink": (None, None, 204),
    "retry": (("erred",), None, 200),
    "DELETE": (PENDING, None, 204),
}
Body = dict[str, Any]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def sim(clock: Clock) -> Starlette:
    return create_waldur_sim(orders=60, seed=7, token=TOKEN, clock=clock)


@pytest.fixture
async def client(sim: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sim) as client:
        yield client


def client_for(app: Starlette, *, token: str | None = TOKEN) -> httpx.AsyncClient:
    headers = {} if token is None else {"Authorization": f"Token {token}"}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE, headers=headers)


def store_of(sim: Starlette) -> WaldurStore:
    store: WaldurStore = sim.state.store
    return store


def offering_of(store: WaldurStore, kind: str, *, review: bool | None = None) -> Offering:
    return next(
        o
        for o in store.catalogue.offerings
        if o.type == kind and (review is None or o.needs_provider_review == review)
    )


def planted(store: WaldurStore, state: str, kind: str = BASIC, **changes: Any) -> WaldurOrder:
    """A fresh copy of a seeded order, in ``state`` at an offering of type ``kind``."""
    base = next(iter(store))
    fields: dict[str, Any] = {
        "uuid": uuid.uuid4().hex,
        "state": state,
        "offering": offering_of(store, kind),
        "consumer_reviewed_by": None,
        "consumer_reviewed_at": None,
        "start_date": None,
        "completed_at": None,
        "error_message": "",
        "error_traceback": "",
        "error_updated_at": None,
        "backend_id": "",
        "attachment": None,
        "attributes": dict(base.attributes),
        "limits": {},
    }
    fields.update(changes)
    return store.add(dataclasses.replace(base, **fields))


def links(offering: Offering, project_uuid: str, plan_uuid: str | None = None) -> Body:
    body: Body = {
        "offering": f"{BASE}/api/marketplace-public-offerings/{offering.uuid}/",
        "project": f"{BASE}/api/projects/{project_uuid}/",
    }
    if plan_uuid is not None:
        body["plan"] = f"{BASE}/api/marketplace-public-offerings/{offering.uuid}/plans/{plan_uuid}/"
    return body


async def act(client: httpx.AsyncClient, order_uuid: str, action: str, **kwargs: Any) -> httpx.Response:
    if action == "DELETE":
        return await client.delete(f"{ORDERS}{order_uuid}/")
    return await client.post(f"{ORDERS}{order_uuid}/{action}/", **kwargs)


def request_for(action: str) -> dict[str, Any]:
    if action == "set_backend_id":
        return {"json": {"backend_id": "slurm-account-42"}}
    if action == "update_attachment":
        return {"files": {"attachment": ("po.pdf", b"%PDF-1.4 order", "application/pdf")}}
    return {}


async def read(client: httpx.AsyncClient, order_uuid: str) -> Body:
    response = await client.get(f"{ORDERS}{order_uuid}/")
    assert response.status_code == 200, response.text
    body: Body = response.json()
    return body


# --- create (§4) ------------------------------------------------------------------------


async def test_create_answers_201_with_a_pending_consumer_order_and_its_location(
    sim: Starlette, client: httpx.AsyncClient, clock: Clock
) -> None:
    store = store_of(sim)
    offering = offering_of(store, BASIC, review=True)
    project = store.catalogue.projects[0]
    clock.advance(hours=1)
    body = {
        **links(offering, project.uuid, offering.plans[0].uuid),
        "attributes": {"name": "vm-new", "flavor": "small"},
        "limits": {offering.components[0].type: 2},
        "slug": "ogw-0123456789abcdef0123",
        "request_comment": "For the course.",
        "callback_url": "https://callbacks.example.org/hook",
        "start_date": "2025-06-01",
        "accepting_terms_of_service": True,
        "type": "Create",
    }
    response = await client.post(ORDERS, json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"] == created["url"] == f"{BASE}{ORDERS}{created['uuid']}/"
    assert OrderDetails.from_dict(created).additional_properties == {}
    assert created["state"] == "pending-consumer" and created["type"] == "Create"
    assert isoparse(created["created"]) == isoparse(created["modified"]) == clock.now
    assert created["slug"] == "ogw-0123456789abcdef0123"
    assert created["attributes"] == {"name": "vm-new", "flavor": "small"}
    assert created["resource_name"] == "vm-new"
    assert created["limits"] == {offering.components[0].type: 2}
    assert created["plan"] == body["plan"] and created["plan_uuid"] == offering.plans[0].uuid
    assert created["offering_uuid"] == offering.uuid and created["project_uuid"] == project.uuid
    assert created["customer_uuid"] == project.customer.uuid
    assert created["provider_uuid"] == offering.provider.uuid
    assert created["start_date"] == "2025-06-01" and created["callback_url"] == body["callback_url"]
    assert created["request_comment"] == "For the course."
    assert created["consumer_reviewed_at"] is None and created["completed_at"] is None
    assert float(created["cost"]) > 0
    assert store.get(created["uuid"]) is not None
    found = await client.get(ORDERS, params={"query": "ogw-0123456789abcdef0123"})
    assert [o["uuid"] for o in found.json()] == [created["uuid"]]


async def test_create_without_plan_or_slug_fills_them_in(sim: Starlette, client: httpx.AsyncClient) -> None:
    store = store_of(sim)
    offering = offering_of(store, SLURM)
    response = await client.post(ORDERS, json=links(offering, store.catalogue.projects[0].uuid))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["plan"] is None and created["plan_uuid"] is None and created["plan_unit"] is None
    assert created["attributes"] == {} and created["limits"] == {}
    assert created["slug"].endswith(created["uuid"][:4])
    OrderDetails.from_dict(created)


async def test_two_sims_with_one_seed_give_created_orders_the_same_uuids(clock: Clock) -> None:
    made = []
    for _ in range(2):
        app = create_waldur_sim(orders=10, seed=3, token=TOKEN, clock=clock)
        store = store_of(app)
        async with client_for(app) as client:
            response = await client.post(
                ORDERS, json=links(store.catalogue.offerings[0], store.catalogue.projects[0].uuid)
            )
        made.append(response.json()["uuid"])
    assert made[0] == made[1]


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        (
            {"offering": None, "project": None},
            {"offering": ["This field may not be null."], "project": ["This field may not be null."]},
        ),
        ({"offering": 7}, {"offering": ["Incorrect type. Expected URL string, received int."]}),
        ({"offering": "http://x/api/nothing/"}, {"offering": ["Invalid hyperlink - No URL match."]}),
        (
            {"offering": f"{BASE}/api/projects/{'a' * 32}/"},
            {"offering": ["Invalid hyperlink - Incorrect URL match."]},
        ),
        (
            {"project": f"{BASE}/api/projects/{'0' * 32}/"},
            {"project": ["Invalid hyperlink - Object does not exist."]},
        ),
        ({"project": f"{BASE}/api/projects/not-a-uuid/"}, {"project": ["Invalid hyperlink - Object does not exist."]}),
        ({"limits": {"cpu": "two", "ram": True}}, {"limits": {"cpu": ["A valid integer is required."], "ram": ["A valid integer is required."]}}),
        ({"limits": [1]}, {"limits": ['Expected a dictionary of items but got type "list".']}),
        ({"attributes": "vm"}, {"attributes": ['Expected a dictionary of items but got type "str".']}),
        ({"start_date": "01/06/2025"}, {"start_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}),
        ({"callback_url": "not a url"}, {"callback_url": ["Enter a valid URL."]}),
        ({"accepting_terms_of_service": "maybe"}, {"accepting_terms_of_service": ["Must be a valid boolean."]}),
        ({"slug": "has space"}, {"slug": ["Enter a valid “slug” consisting of letters, numbers, underscores or hyphens."]}),
    ],
)  # fmt: skip
async def test_create_refuses_bad_fields_with_a_drf_field_map(
    sim: Starlette, client: httpx.AsyncClient, change: Body, errors: Body
) -> None:
    store = store_of(sim)
    body = {**links(offering_of(store, BASIC), store.catalogue.projects[0].uuid), **change}
    before = len(store)
    response = await client.post(ORDERS, json=body)
    assert response.status_code == 400
    assert response.json() == errors
    assert len(store) == before


async def test_create_refusals_of_missing_fields_and_cross_field_rules(
    sim: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(sim)
    vm, slurm = offering_of(store, BASIC), offering_of(store, SLURM)
    project = store.catalogue.projects[0].uuid
    missing = await client.post(ORDERS, json={"attributes": {}})
    assert missing.status_code == 400
    assert missing.json() == {"offering": ["This field is required."], "project": ["This field is required."]}
    other_plan = await client.post(ORDERS, json=links(vm, project, slurm.plans[0].uuid))
    assert other_plan.json() == {"plan": ["This plan is not available for selected offering."]}
    unknown = await client.post(ORDERS, json={**links(vm, project), "limits": {"gpu_hours": 1, "cpu": 1}})
    assert unknown.json() == {"limits": ["Invalid types: gpu_hours"]}
    listed = await client.post(ORDERS, json=[links(vm, project)])
    assert listed.json() == {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}
    broken = await client.post(ORDERS, content=b"{", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["detail"].startswith("JSON parse error - ")
    text = await client.post(ORDERS, content=b"x", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    assert text.json() == {"detail": 'Unsupported media type "text/plain" in request.'}


# --- the state machine (§6) -------------------------------------------------------------


@pytest.mark.parametrize("action", list(EXPECTED))
async def test_each_action_in_every_state_and_offering_type(
    sim: Starlette, client: httpx.AsyncClient, action: str
) -> None:
    states, kinds, success = EXPECTED[action]
    store = store_of(sim)
    for kind in (SLURM, BASIC, SUPPORT):
        for state in STATES:
            attachment = (
                Attachment("po.pdf", "application/pdf", b"%PDF") if action == "delete_attachment" else None
            )
            order = planted(store, state, kind, attachment=attachment)
            response = await act(client, order.uuid, action, **request_for(action))
            if states is not None and state not in states:
                assert response.status_code == 409, (kind, state, response.text)
                assert response.json() == {"detail": f"Valid states for operation: {', '.join(states)}."}
                assert store.get(order.uuid) is not None and order.state == state
            elif kinds is not None and kind not in kinds:
                assert response.status_code == 405, (kind, state, response.text)
                message = f"The order's offering with {kind} type does not support this action"
                assert response.json() == {"detail": f'Method "{message}" not allowed.'}
                assert order.state == state
            else:
                assert response.status_code == success, (kind, state, response.text)


async def test_validators_run_before_the_body_is_read(sim: Starlette, client: httpx.AsyncClient) -> None:
    order = planted(store_of(sim), "done", SLURM)
    response = await act(
        client, order.uuid, "set_state_executing", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 409
    erred = await act(
        client, order.uuid, "set_state_erred", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert erred.status_code == 400 and erred.json()["detail"].startswith("JSON parse error")


async def test_consumer_approval_routes_by_provider_review_and_start_date(
    sim: Starlette, client: httpx.AsyncClient, clock: Clock
) -> None:
    store = store_of(sim)
    reviewed = planted(store, "pending-consumer", BASIC, offering=offering_of(store, BASIC, review=True))
    direct = planted(store, "pending-consumer", BASIC, offering=offering_of(store, BASIC, review=False))
    later = planted(
        store,
        "pending-consumer",
        BASIC,
        offering=offering_of(store, BASIC, review=False),
        start_date=(START + timedelta(days=3)).date(),
    )
    clock.advance(minutes=5)
    answers = {o.uuid: await act(client, o.uuid, "approve_by_consumer") for o in (reviewed, direct, later)}
    assert {u: (r.status_code, r.json()) for u, r in answers.items()} == {
        reviewed.uuid: (200, {"detail": "Order is pending provider approval."}),
        direct.uuid: (200, {"detail": "Order has been approved and is being processed."}),
        later.uuid: (200, {"detail": "Order is pending start date."}),
    }
    states = {o.uuid: (await read(client, o.uuid))["state"] for o in (reviewed, direct, later)}
    assert states == {
        reviewed.uuid: "pending-provider",
        direct.uuid: "executing",
        later.uuid: "pending-start-date",
    }
    body = await read(client, reviewed.uuid)
    assert isoparse(body["consumer_reviewed_at"]) == isoparse(body["modified"]) == clock.now
    assert body["consumer_reviewed_by"] == "gateway-api" and body["provider_reviewed_at"] is None


async def test_provider_approval_merges_attributes_and_stamps_the_reviewer(
    sim: Starlette, client: httpx.AsyncClient, clock: Clock
) -> None:
    order = planted(store_of(sim), "pending-provider", SUPPORT)
    clock.advance(hours=2)
    bad = await act(client, order.uuid, "approve_by_provider", json={"attributes": ["x"]})
    assert bad.status_code == 400
    assert bad.json() == {"attributes": ['Expected a dictionary of items but got type "list".']}
    assert order.state == "pending-provider"
    response = await act(client, order.uuid, "approve_by_provider", json={"attributes": {"ticket": "T-1"}})
    assert response.json() == {"detail": "Order has been approved and is being processed."}
    body = await read(client, order.uuid)
    assert body["state"] == "executing" and body["attributes"]["ticket"] == "T-1"
    assert isoparse(body["provider_reviewed_at"]) == isoparse(body["modified"]) == clock.now


async def test_rejections_keep_comments_and_refuse_a_second_consumer_review(
    sim: Starlette, client: httpx.AsyncClient, clock: Clock
) -> None:
    store = store_of(sim)
    by_consumer = planted(store, "pending-consumer")
    by_provider = planted(store, "pending-provider")
    reviewed = planted(store, "pending-consumer", consumer_reviewed_by=by_consumer.created_by)
    clock.advance(minutes=1)
    response = await act(
        client, by_consumer.uuid, "reject_by_consumer", json={"consumer_rejection_comment": "No budget."}
    )
    assert (response.status_code, response.content) == (200, b"")
    provider = await act(
        client, by_provider.uuid, "reject_by_provider", json={"provider_rejection_comment": "Full."}
    )
    assert provider.status_code == 200
    consumer_body, provider_body = await read(client, by_consumer.uuid), await read(client, by_provider.uuid)
    assert consumer_body["state"] == provider_body["state"] == "rejected"
    assert consumer_body["consumer_rejection_comment"] == "No budget."
    assert provider_body["provider_rejection_comment"] == "Full."
    assert isoparse(consumer_body["consumer_reviewed_at"]) == clock.now
    assert isoparse(provider_body["provider_reviewed_at"]) == clock.now
    again = await act(client, reviewed.uuid, "reject_by_consumer")
    assert (again.status_code, again.json()) == (400, ["Order is already reviewed by consumer."])
    typed = await act(client, by_provider.uuid, "reject_by_provider", json={})
    assert typed.status_code == 409
    wrong = await act(
        client, planted(store, "pending-consumer").uuid, "reject_by_consumer", json={"error_message": {}}
    )
    assert (wrong.status_code, wrong.json()) == (400, {"error_message": ["Not a valid string."]})


async def test_agent_transitions_stamp_completion_and_errors(
    sim: Starlette, client: httpx.AsyncClient, clock: Clock
) -> None:
    order = planted(store_of(sim), "pending-consumer", SLURM)
    clock.advance(minutes=1)
    assert (await act(client, order.uuid, "set_state_executing")).status_code == 200
    assert (await read(client, order.uuid))["state"] == "executing"
    clock.advance(minutes=1)
    erred = await act(
        client, order.uuid, "set_state_erred", json={"error_message": "Boom", "error_traceback": "tb"}
    )
    assert (erred.status_code, erred.content) == (200, b"")
    body = await read(client, order.uuid)
    assert (body["state"], body["error_message"], body["error_traceback"]) == ("erred", "Boom", "tb")
    assert isoparse(body["error_updated_at"]) == isoparse(body["modified"]) == clock.now
    clock.advance(minutes=1)
    assert (await act(client, order.uuid, "retry")).status_code == 200
    body = await read(client, order.uuid)
    assert (body["state"], body["error_message"], body["error_updated_at"]) == ("executing", "", None)
    clock.advance(minutes=1)
    assert (await act(client, order.uuid, "set_state_done")).status_code == 200
    body = await read(client, order.uuid)
    assert body["state"] == "done"
    assert isoparse(body["completed_at"]) == isoparse(body["modified"]) == clock.now
    assert (await act(client, order.uuid, "retry")).json() == {"detail": "Valid states for operation: erred."}


async def test_cancel_answers_202_without_a_body(
    sim: Starlette, client: httpx.AsyncClient, clock: Clock
) -> None:
    order = planted(store_of(sim), "executing", SUPPORT)
    clock.advance(seconds=30)
    response = await act(client, order.uuid, "cancel")
    assert (response.status_code, response.content) == (202, b"")
    body = await read(client, order.uuid)
    assert body["state"] == "canceled" and isoparse(body["modified"]) == clock.now
    assert body["can_terminate"] is False and body["completed_at"] is None


async def test_set_backend_id_checks_its_body_and_reports_no_change(
    sim: Starlette, client: httpx.AsyncClient, clock: Clock
) -> None:
    order = planted(store_of(sim), "done", SLURM)
    missing = await act(client, order.uuid, "set_backend_id", json={})
    assert (missing.status_code, missing.json()) == (400, {"backend_id": ["This field is required."]})
    blank = await act(client, order.uuid, "set_backend_id", json={"backend_id": "  "})
    assert blank.json() == {"backend_id": ["This field may not be blank."]}
    clock.advance(minutes=1)
    changed = await act(client, order.uuid, "set_backend_id", json={"backend_id": "acc-7"})
    assert changed.json() == {"status": "Order backend_id has been changed."}
    stamped = clock.now
    clock.advance(minutes=1)
    same = await act(client, order.uuid, "set_backend_id", json={"backend_id": "acc-7"})
    assert same.json() == {"status": "Order backend_id is not changed."}
    body = await read(client, order.uuid)
    assert body["backend_id"] == "acc-7" and isoparse(body["modified"]) == stamped


async def test_attachments_upload_serve_and_delete(sim: Starlette, client: httpx.AsyncClient) -> None:
    order = planted(store_of(sim), "pending-provider")
    missing = await act(client, order.uuid, "update_attachment", files={"other": ("a.txt", b"x")})
    assert (missing.status_code, missing.json()) == (400, {"attachment": ["No file was submitted."]})
    not_file = await act(client, order.uuid, "update_attachment", data={"attachment": "text"})
    assert not_file.json() == {
        "attachment": ["The submitted data was not a file. Check the encoding type on the form."]
    }
    uploaded = await act(
        client,
        order.uuid,
        "update_attachment",
        files={"attachment": ("my po.pdf", b"%PDF-1", "application/pdf")},
    )
    assert uploaded.status_code == 200
    url = uploaded.json()["attachment"]
    assert url == f"{BASE}/media/marketplace_order_attachments/{order.uuid}/my_po.pdf"
    assert (await read(client, order.uuid))["attachment"] == url
    served = await client.get(url, headers={"Authorization": ""})
    assert (served.status_code, served.content, served.headers["content-type"]) == (
        200,
        b"%PDF-1",
        "application/pdf",
    )
    deleted = await act(client, order.uuid, "delete_attachment")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await read(client, order.uuid))["attachment"] is None
    again = await act(client, order.uuid, "delete_attachment")
    assert (again.status_code, again.content) == (404, b"")
    assert (await client.get(url)).status_code == 404


async def test_delete_and_unlink_remove_the_order(sim: Starlette, client: httpx.AsyncClient) -> None:
    store = store_of(sim)
    pending, finished = planted(store, "pending-consumer"), planted(store, "done")
    deleted = await act(client, pending.uuid, "DELETE")
    assert (deleted.status_code, deleted.content) == (204, b"")
    unlinked = await act(client, finished.uuid, "unlink")
    assert (unlinked.status_code, unlinked.content) == (204, b"")
    for gone in (pending.uuid, finished.uuid):
        assert store.get(gone) is None
        response = await client.get(f"{ORDERS}{gone}/")
        assert response.json() == {"detail": "No Order matches the given query."}


async def test_a_non_staff_token_cannot_unlink_nor_see_tracebacks(clock: Clock) -> None:
    app = create_waldur_sim(orders=30, seed=7, token=TOKEN, clock=clock, staff=False)
    store = store_of(app)
    order = planted(store, "erred", SLURM, error_traceback="secret internals")
    async with client_for(app) as client:
        refused = await act(client, order.uuid, "unlink")
        unknown = await act(client, uuid.uuid4().hex, "unlink")
        body = await read(client, order.uuid)
        listed = (await client.get(ORDERS, params={"page_size": 100})).json()
    assert (refused.status_code, refused.json()) == (
        403,
        {"detail": "You do not have permission to perform this action."},
    )
    assert unknown.status_code == 403  # the staff check comes before the lookup
    assert store.get(order.uuid) is not None
    assert "error_traceback" not in body and all("error_traceback" not in row for row in listed)


async def test_offering_answers_public_offering_details(sim: Starlette, client: httpx.AsyncClient) -> None:
    store = store_of(sim)
    offering = offering_of(store, BASIC)
    order = planted(store, "done", offering=offering)
    response = await act(client, order.uuid, "offering")
    assert response.status_code == 405  # POST: the offering is read with GET
    response = await client.get(f"{ORDERS}{order.uuid}/offering/")
    assert response.status_code == 200
    body = response.json()
    parsed = PublicOfferingDetails.from_dict(body)
    assert parsed.additional_properties == {}
    assert (body["uuid"], body["name"], body["type"], body["state"]) == (
        offering.uuid,
        offering.name,
        BASIC,
        "Active",
    )
    assert (body["customer_uuid"], body["customer_name"]) == (offering.provider.uuid, offering.provider.name)
    assert body["category_title"] == offering.category.title
    assert [p["uuid"] for p in body["plans"]] == [p.uuid for p in offering.plans]
    assert set(body["plans"][0]["prices"]) == {c.type for c in offering.components}
    assert [c["type"] for c in body["components"]] == [c.type for c in offering.components]


# --- routing, authentication, lookups --------------------------------------------------


async def test_routing_comes_before_authentication_and_authentication_before_lookup(sim: Starlette) -> None:
    order = planted(store_of(sim), "pending-consumer")
    async with client_for(sim, token=None) as anonymous:
        unknown_action = await act(anonymous, order.uuid, "explode")
        no_token = await act(anonymous, uuid.uuid4().hex, "cancel")
        no_token_create = await anonymous.post(ORDERS, json={})
        no_token_delete = await act(anonymous, order.uuid, "DELETE")
    assert (unknown_action.status_code, unknown_action.json()) == (404, {"detail": "Not found."})
    for response in (no_token, no_token_create, no_token_delete):
        assert response.status_code == 401
    assert order.state == "pending-consumer"


async def test_unknown_orders_and_wrong_methods(sim: Starlette, client: httpx.AsyncClient) -> None:
    missing = await act(client, uuid.uuid4().hex, "cancel")
    assert (missing.status_code, missing.json()) == (404, {"detail": "No Order matches the given query."})
    malformed = await act(client, "nope", "cancel")
    assert (malformed.status_code, malformed.json()) == (404, {"detail": "Not found."})
    order = planted(store_of(sim), "pending-consumer")
    wrong = await client.get(f"{ORDERS}{order.uuid}/cancel/")
    assert (wrong.status_code, wrong.json()) == (405, {"detail": 'Method "GET" not allowed.'})
    dashed = await act(client, str(uuid.UUID(order.uuid)).upper(), "cancel")
    assert dashed.status_code == 202


async def test_lists_show_each_change_at_once(sim: Starlette, client: httpx.AsyncClient) -> None:
    order = planted(store_of(sim), "pending-consumer")
    before = (await client.get(ORDERS, params={"state": "canceled", "page_size": 100})).json()
    assert order.uuid not in [row["uuid"] for row in before]
    assert (await act(client, order.uuid, "cancel")).status_code == 202
    after = (await client.get(ORDERS, params={"state": "canceled", "page_size": 100})).json()
    assert order.uuid in [row["uuid"] for row in after]
    count = await client.head(ORDERS, params={"state": "canceled"})
    assert int(count.headers["X-Result-Count"]) == len(before) + 1
