"""The Waldur adapter's writes against the simulator over real HTTP: create, find, every action
allowed and refused, and ``order.actions`` agreeing with what the simulator then accepts."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.adapters.base import OrderDraft, Upload
from gateway.adapters.waldur import WaldurAdapter
from gateway.errors import (
    ActionNotAllowedError,
    GatewayError,
    OrderNotFoundError,
    UnsupportedActionError,
    UpstreamAuthError,
    ValidationFailedError,
)
from gateway.models import Order, Status
from gateway.settings import WaldurSettings
from gateway.sim.waldur import create_waldur_sim
from gateway.sim.waldur_catalogue import Offering
from gateway.sim.waldur_data import ORDER_STATES, Attachment, WaldurOrder, WaldurStore
from tests.support.credentials import SIM_TOKEN as TOKEN
from tests.support.servers import running_server

pytestmark = pytest.mark.e2e
SLURM, BASIC, SUPPORT = "Marketplace.Slurm", "Marketplace.Basic", "Support.OfferingTemplate"
UPLOAD = Upload(filename="po.pdf", content_type="application/pdf", content=b"%PDF-1.4 po")
ATTACHABLE = ("pending-project", "pending-consumer", "pending-provider")
# Each way to ask for a gateway action: (action, payload).
CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("approve", {"as": "consumer"}),
    ("approve", {"as": "provider"}),
    ("reject", {"as": "consumer"}),
    ("reject", {"as": "provider", "comment": "Full."}),
    ("cancel", {}),
    ("delete", {}),
    ("update_attachment", {"attachment": UPLOAD}),
    ("delete_attachment", {}),
    ("set_backend_id", {"backend_id": "acc-1"}),
    ("set_state_executing", {}),
    ("set_state_done", {}),
    ("set_state_erred", {"message": "Quota exceeded."}),
    ("retry", {}),
    ("unlink", {}),
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


CLOCK = Clock()


@pytest.fixture(scope="module")
def sim() -> Starlette:
    return create_waldur_sim(orders=60, seed=5, token=TOKEN, clock=CLOCK)


@pytest.fixture(scope="module")
def sim_url(sim: Starlette) -> Iterator[str]:
    with running_server(sim) as url:
        yield url


def adapter_for(url: str, client: httpx.AsyncClient) -> WaldurAdapter:
    settings = WaldurSettings.model_validate(
        {"kind": "waldur", "base_url": f"{url}/api/", "token": TOKEN, "timeout_s": 5}
    )
    return WaldurAdapter("waldur-eu", settings, client, gateway_url="https://gw.example.org")


@pytest.fixture
async def adapter(sim_url: str) -> AsyncIterator[WaldurAdapter]:
    async with httpx.AsyncClient() as client:
        yield adapter_for(sim_url, client)


def store_of(sim: Starlette) -> WaldurStore:
    store: WaldurStore = sim.state.store
    return store


def offering_of(sim: Starlette, kind: str, *, review: bool | None = None) -> Offering:
    return next(
        o
        for o in store_of(sim).catalogue.offerings
        if o.type == kind and (review is None or o.needs_provider_review == review)
    )


def draft_for(sim: Starlette, offering: Offering, **changes: Any) -> OrderDraft:
    fields: dict[str, Any] = {
        "name": "gw-vm",
        "service": offering.uuid,
        "customer": store_of(sim).catalogue.projects[0].uuid,
        "items": tuple({"id": c.type, "quantity": c.amounts[0]} for c in offering.components),
        "parameters": {"flavor": "small"},
        "provider_options": {"plan": offering.plans[0].uuid, "request_comment": "Course."},
        "marker": f"ogw-{uuid.uuid4().hex[:20]}",
    }
    fields.update(changes)
    return OrderDraft(**fields)


def plant(sim: Starlette, state: str, kind: str, **changes: Any) -> WaldurOrder:
    """A fresh order in ``state`` at an offering of type ``kind``, put straight into the store."""
    store = store_of(sim)
    base = next(iter(store))
    fields: dict[str, Any] = {
        "uuid": uuid.uuid4().hex,
        "state": state,
        "offering": offering_of(sim, kind),
        "plan": None,
        "limits": {},
        "attributes": {"name": "planted"},
        "consumer_reviewed_by": None,
        "start_date": None,
        "attachment": None,
        "completed_at": None,
    }
    fields.update(changes)
    return store.add(dataclasses.replace(base, **fields))


async def create(adapter: WaldurAdapter, sim: Starlette, kind: str, *, review: bool | None = None) -> Order:
    return await adapter.create_order(draft_for(sim, offering_of(sim, kind, review=review)))


# --- create and find ---------------------------------------------------------------------


async def test_create_then_read_and_find_by_marker(adapter: WaldurAdapter, sim: Starlette) -> None:
    offering = offering_of(sim, BASIC, review=True)
    draft = draft_for(sim, offering)
    created = await adapter.create_order(draft)
    assert created.provider_status == "pending-consumer" and created.status is Status.PENDING
    assert created.name == "gw-vm" and created.service is not None and created.service.id == offering.uuid
    assert created.extra["slug"] == draft.marker
    assert {item.name: item.quantity for item in created.items} == {
        c.type: c.amounts[0] for c in offering.components
    }
    assert created.actions == ("approve", "reject", "cancel", "delete", "update_attachment",
                               "set_backend_id", "unlink")  # fmt: skip
    assert await adapter.get_order(created.native_id) == created
    assert await adapter.find_created(draft) == created
    assert await adapter.find_created(dataclasses.replace(draft, marker="ogw-never-used-marker")) is None


async def test_upstream_create_refusals_are_validation_failures_at_our_paths(
    adapter: WaldurAdapter, sim: Starlette
) -> None:
    vm, slurm = offering_of(sim, BASIC), offering_of(sim, SLURM)
    cases = [
        (draft_for(sim, vm, service=uuid.uuid4().hex), ["body", "service"]),
        (draft_for(sim, vm, customer=uuid.uuid4().hex), ["body", "customer"]),
        (
            draft_for(sim, vm, provider_options={"plan": slurm.plans[0].uuid}),
            ["body", "provider_options", "plan"],
        ),
        (draft_for(sim, vm, items=({"id": "gpu_hours", "quantity": 1},)), ["body", "items"]),
    ]
    before = len(store_of(sim))
    for draft, loc in cases:
        with pytest.raises(ValidationFailedError) as caught:
            await adapter.create_order(draft)
        assert [error["loc"] for error in caught.value.extensions["errors"]] == [loc]
    assert len(store_of(sim)) == before


# --- every action, allowed and refused -----------------------------------------------------


async def test_approval_walk_returns_the_fresh_order_each_time(
    adapter: WaldurAdapter, sim: Starlette
) -> None:
    order = await create(adapter, sim, BASIC, review=True)
    CLOCK.tick()
    consumer = (await adapter.perform(order.native_id, "approve", {})).order
    assert consumer is not None and consumer.provider_status == "pending-provider"
    assert consumer.updated_at == CLOCK.now and "approve" in consumer.actions
    with pytest.raises(ActionNotAllowedError):
        await adapter.perform(order.native_id, "approve", {"as": "consumer"})
    CLOCK.tick()
    payload = {"as": "provider", "attributes": {"ticket": "T-1"}}
    provider = (await adapter.perform(order.native_id, "approve", payload)).order
    assert provider is not None and provider.provider_status == "executing"
    assert provider.status is Status.IN_PROGRESS and provider.updated_at == CLOCK.now
    assert provider.extra["attributes"]["ticket"] == "T-1"
    with pytest.raises(ActionNotAllowedError):
        await adapter.perform(order.native_id, "reject", {"as": "provider"})
    cancelled = (await adapter.perform(order.native_id, "cancel", {})).order
    assert (
        cancelled is not None and cancelled.status is Status.CANCELLED and cancelled.completed_at is not None
    )
    with pytest.raises(ActionNotAllowedError):
        await adapter.perform(order.native_id, "cancel", {})


async def test_rejections_and_their_refusals(adapter: WaldurAdapter, sim: Starlette) -> None:
    order = await create(adapter, sim, SUPPORT)
    rejected = (await adapter.perform(order.native_id, "reject", {"comment": "No budget."})).order
    assert rejected is not None and rejected.status is Status.REJECTED
    assert rejected.extra["consumer_rejection_comment"] == "No budget."
    reviewed = plant(sim, "pending-consumer", BASIC, consumer_reviewed_by=store_of(sim).catalogue.users[0])
    with pytest.raises(ActionNotAllowedError):  # 400 "already reviewed by consumer"
        await adapter.perform(reviewed.uuid, "reject", {"as": "consumer"})


async def test_offering_type_refusals_are_unsupported(adapter: WaldurAdapter, sim: Starlette) -> None:
    slurm = await create(adapter, sim, SLURM)
    with pytest.raises(UnsupportedActionError):
        await adapter.perform(slurm.native_id, "cancel", {})
    basic = plant(sim, "executing", BASIC)
    with pytest.raises(UnsupportedActionError):
        await adapter.perform(basic.uuid, "set_state_erred", {})
    with pytest.raises(UnsupportedActionError):
        await adapter.perform(basic.uuid, "history", {})


async def test_site_agent_actions_walk_a_slurm_order(adapter: WaldurAdapter, sim: Starlette) -> None:
    order = await create(adapter, sim, SLURM)
    executing = (await adapter.perform(order.native_id, "set_state_executing", {})).order
    assert executing is not None and executing.provider_status == "executing"
    with pytest.raises(ActionNotAllowedError):
        await adapter.perform(order.native_id, "set_state_executing", {})
    with_id = (await adapter.perform(order.native_id, "set_backend_id", {"backend_id": "alloc_9"})).order
    assert with_id is not None and with_id.extra["backend_id"] == "alloc_9"
    erred = (
        await adapter.perform(order.native_id, "set_state_erred", {"message": "Quota", "traceback": "tb"})
    ).order
    assert erred is not None and erred.status is Status.FAILED and erred.extra["error_message"] == "Quota"
    assert "error_traceback" not in erred.extra
    retried = (await adapter.perform(order.native_id, "retry", {})).order
    assert retried is not None and retried.provider_status == "executing"
    with pytest.raises(ActionNotAllowedError):
        await adapter.perform(order.native_id, "retry", {})
    done = (await adapter.perform(order.native_id, "set_state_done", {})).order
    assert done is not None and done.status is Status.COMPLETED and done.completed_at == CLOCK.now


async def test_attachments_and_their_refusals(adapter: WaldurAdapter, sim: Starlette) -> None:
    order = await create(adapter, sim, BASIC)
    attached = (await adapter.perform(order.native_id, "update_attachment", {"attachment": UPLOAD})).order
    assert attached is not None and "delete_attachment" in attached.actions
    stored = store_of(sim).get(order.native_id)
    assert stored is not None and stored.attachment == Attachment("po.pdf", "application/pdf", UPLOAD.content)
    cleared = (await adapter.perform(order.native_id, "delete_attachment", {})).order
    assert cleared is not None and "delete_attachment" not in cleared.actions
    with pytest.raises(ActionNotAllowedError):
        await adapter.perform(order.native_id, "delete_attachment", {})
    finished = plant(sim, "done", BASIC)
    with pytest.raises(ActionNotAllowedError):
        await adapter.perform(finished.uuid, "update_attachment", {"attachment": UPLOAD})


async def test_delete_and_unlink_leave_no_order(adapter: WaldurAdapter, sim: Starlette) -> None:
    pending = await create(adapter, sim, BASIC)
    assert (await adapter.perform(pending.native_id, "delete", {})).order is None
    with pytest.raises(OrderNotFoundError):
        await adapter.get_order(pending.native_id)
    with pytest.raises(OrderNotFoundError):
        await adapter.perform(pending.native_id, "cancel", {})
    done = plant(sim, "done", SLURM)
    with pytest.raises(ActionNotAllowedError):
        await adapter.perform(done.uuid, "delete", {})
    assert (await adapter.perform(done.uuid, "unlink", {})).order is None
    assert store_of(sim).get(done.uuid) is None


async def test_unlink_with_a_non_staff_token_is_an_upstream_auth_error() -> None:
    app = create_waldur_sim(orders=10, seed=5, token=TOKEN, staff=False)
    order = next(iter(store_of(app)))
    with running_server(app) as url:
        async with httpx.AsyncClient() as client:
            with pytest.raises(UpstreamAuthError):
                await adapter_for(url, client).perform(order.uuid, "unlink", {})
    assert store_of(app).get(order.uuid) is order


async def test_offering_returns_the_order_and_the_normalised_offering(
    adapter: WaldurAdapter, sim: Starlette
) -> None:
    offering = offering_of(sim, SLURM)
    order = plant(sim, "done", SLURM)
    outcome = await adapter.perform(order.uuid, "offering", {})
    assert outcome.order is not None and outcome.order.native_id == order.uuid
    resource = outcome.resource
    assert (resource["id"], resource["name"], resource["type"]) == (offering.uuid, offering.name, SLURM)
    assert resource["provider"] == {"id": offering.provider.uuid, "name": offering.provider.name}
    assert [plan["id"] for plan in resource["plans"]] == [plan.uuid for plan in offering.plans]
    assert all(plan["price"]["currency"] == "EUR" for plan in resource["plans"])
    assert [c["id"] for c in resource["components"]] == [c.type for c in offering.components]
    with pytest.raises(OrderNotFoundError):
        await adapter.perform(uuid.uuid4().hex, "offering", {})


# --- order.actions is what the upstream accepts ------------------------------------------------


async def accepted(adapter: WaldurAdapter, order_uuid: str, action: str, payload: dict[str, Any]) -> bool:
    try:
        await adapter.perform(order_uuid, action, payload)
    except (ActionNotAllowedError, UnsupportedActionError):
        return False
    except GatewayError as exc:  # anything else is a wrong mapping, not a refusal
        raise AssertionError(f"{action} {payload}: {exc!r}") from exc
    return True


def situations() -> list[tuple[str, str, dict[str, Any]]]:
    found: list[tuple[str, str, dict[str, Any]]] = [
        (state, kind, {}) for state in ORDER_STATES for kind in (SLURM, BASIC, SUPPORT)
    ]
    attachment = Attachment("po.pdf", "application/pdf", b"%PDF")
    found += [
        (state, kind, {"attachment": attachment}) for state in ATTACHABLE for kind in (SLURM, BASIC, SUPPORT)
    ]
    found += [("pending-consumer", kind, {"reviewed": True}) for kind in (SLURM, BASIC, SUPPORT)]
    return found


async def test_order_actions_equal_what_the_simulator_accepts_in_every_state(
    adapter: WaldurAdapter, sim: Starlette
) -> None:
    reviewer = store_of(sim).catalogue.users[0]
    for state, kind, extra in situations():
        changes: dict[str, Any] = {"attachment": extra.get("attachment")}
        if extra.get("reviewed"):
            changes["consumer_reviewed_by"] = reviewer
        listed = (await adapter.get_order(plant(sim, state, kind, **changes).uuid)).actions
        taken = set()
        for action, payload in CANDIDATES:
            if await accepted(adapter, plant(sim, state, kind, **changes).uuid, action, payload):
                taken.add(action)
        assert set(listed) == taken, (state, kind, extra)
        assert len(listed) == len(set(listed))
