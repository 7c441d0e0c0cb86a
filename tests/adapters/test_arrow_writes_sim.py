"""The Arrow adapter's writes against the simulated Arrow over real HTTP: create, find, every action."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.adapters.arrow import ArrowAdapter
from gateway.adapters.arrow.actions import LIFECYCLE_ACTIONS, METADATA_WRITES
from gateway.adapters.arrow.drafts import MARKER_LABEL
from gateway.adapters.base import OrderDraft, Upload
from gateway.errors import (
    ActionNotAllowedError,
    NotFoundError,
    OrderNotFoundError,
    UnsupportedActionError,
    ValidationFailedError,
)
from gateway.models import Status
from gateway.settings import ArrowSettings
from gateway.sim.arrow import create_arrow_sim
from gateway.sim.arrow_data import LOWER_CASE_STATUSES, ORDER_STATUSES, ArrowOrder, ArrowStore, Attachment
from tests.support.credentials import SIM_TOKEN as KEY
from tests.support.servers import running_server

pytestmark = pytest.mark.e2e

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SKU = "SAAS||Microsoft||MS-0A-O365-BUSINESS||BD938F12"
DRAFT = OrderDraft(
    name=None,
    service=None,
    customer="XSP17727",
    items=({"sku": SKU, "quantity": 2},),
    parameters={},
    provider_options={},
    marker="ogw-a1",
)
# A valid payload for each write, to see whether the simulator accepts it.
PAYLOADS: dict[str, dict[str, Any]] = {
    **{action: {} for action in LIFECYCLE_ACTIONS},
    "update_po": {"PO_number": "PO-NEW", "customFields": [{"label": "Cost centre", "value": "CC-1"}]},
    "contributor": {"contributor": [{"type": "isr", "staffId": 42}]},
    "additionalInformation": {"data": [{"name": "domain", "value": "contoso.example"}]},
    "add_attachment": {"name": "po.txt", "content_base64": "UE8tMQ=="},
    "delete_attachment": {"name": "seed.txt"},
}


@pytest.fixture(scope="module")
def sim() -> Starlette:
    return create_arrow_sim(orders=30, seed=5, token=KEY, clock=lambda: NOW)


@pytest.fixture(scope="module")
def sim_url(sim: Starlette) -> Iterator[str]:
    with running_server(sim) as url:
        yield url


@pytest.fixture
async def adapter(sim_url: str) -> AsyncIterator[ArrowAdapter]:
    settings = ArrowSettings.model_validate(
        {"kind": "arrow", "base_url": f"{sim_url}/index.php/api/", "api_key": KEY, "timeout_s": 5}
    )
    async with httpx.AsyncClient() as client:
        yield ArrowAdapter("arrow", settings, client)


def store_of(sim: Starlette) -> ArrowStore:
    store: ArrowStore = sim.state.store
    return store


def upstream(sim: Starlette, reference: str) -> ArrowOrder:
    order = store_of(sim).get(reference)
    assert order is not None
    return order


async def order_in(adapter: ArrowAdapter, sim: Starlette, status: str) -> str:
    """A fresh order, put in ``status`` (and holding one attachment) behind the API's back."""
    reference = (await adapter.create_order(DRAFT)).native_id
    order = upstream(sim, reference)
    order.status = status
    order.attachments["seed.txt"] = Attachment("seed.txt", b"seed", NOW)
    store_of(sim).changed()
    return reference


# --- create and find -------------------------------------------------------------------


async def test_create_posts_then_reads_and_keeps_the_marker(adapter: ArrowAdapter, sim: Starlette) -> None:
    order = await adapter.create_order(DRAFT)
    assert order.provider_kind == "arrow" and order.native_id.startswith("XSPO")
    assert (order.name, order.status, order.provider_status) == ("ogw-a1", Status.PENDING, "Open")
    assert order.customer is not None and order.customer.id == "XSP17727"
    assert order.items[0].id == SKU and order.items[0].quantity == 2
    assert order.actions == ("cancel", "validate", *METADATA_WRITES)
    assert await adapter.get_order(order.native_id) == order
    assert upstream(sim, order.native_id).ponumber == "ogw-a1"

    named = await adapter.create_order(replace(DRAFT, name="PO-778", marker="ogw-a2"))
    assert named.name == "PO-778"
    assert upstream(sim, named.native_id).custom_fields == [{"label": MARKER_LABEL, "value": "ogw-a2"}]


async def test_find_created_finds_the_order_by_its_marker(adapter: ArrowAdapter) -> None:
    by_po = await adapter.create_order(replace(DRAFT, marker="ogw-f1"))
    by_field = await adapter.create_order(replace(DRAFT, name="PO-F2", marker="ogw-f2"))
    assert await adapter.find_created(replace(DRAFT, marker="ogw-f1")) == by_po
    assert await adapter.find_created(replace(DRAFT, name="PO-F2", marker="ogw-f2")) == by_field
    assert await adapter.find_created(replace(DRAFT, marker="ogw-never")) is None
    assert await adapter.find_created(replace(DRAFT, customer="XSP1", marker="ogw-f1")) is None
    assert await adapter.find_created(replace(DRAFT, customer=None)) is None  # could not have been sent


async def test_a_create_the_simulator_refuses_is_422_and_an_invalid_draft_makes_none(
    adapter: ArrowAdapter, sim: Starlette
) -> None:
    before = len(store_of(sim))
    with pytest.raises(ValidationFailedError) as info:
        await adapter.create_order(replace(DRAFT, items=({"sku": "NO-SUCH-SKU", "quantity": 1},)))
    assert info.value.extensions["errors"] == [
        {"loc": ["body"], "msg": "refused by the provider (unknown customer or product?)"}
    ]
    with pytest.raises(ValidationFailedError) as invalid:
        await adapter.create_order(replace(DRAFT, items=({"sku": SKU, "quantity": -1},)))
    assert invalid.value.extensions["errors"][0]["loc"] == ["body", "items", 0, "quantity"]
    assert len(store_of(sim)) == before


# --- lifecycle actions: allowed, then refused ------------------------------------------

LIFECYCLE_CASES = [
    # action, a status allowing it, the status after it, a status refusing it (docs/decisions.md)
    ("cancel", "Open", "Canceled", "Fulfilled"),
    ("validate", "Needs Partner Validation", "Validated by partner", "In progress"),
    ("resubmit", "Billfeed Error", "In progress", "Open"),
    ("archive", "Fulfilled", "Archived", "Open"),
    ("rejectGraded", "Needs Validation", "Not Accepted", "Open"),
]


@pytest.mark.parametrize(("action", "allowed", "after", "refused"), LIFECYCLE_CASES)
async def test_a_lifecycle_action_moves_an_order_it_allows_and_is_409_otherwise(
    adapter: ArrowAdapter, sim: Starlette, action: str, allowed: str, after: str, refused: str
) -> None:
    reference = await order_in(adapter, sim, allowed)
    outcome = await adapter.perform(reference, action, {})
    assert outcome.order is not None and outcome.resource is None
    assert outcome.order.provider_status == after == upstream(sim, reference).status  # the fresh order
    assert action not in outcome.order.actions

    reference = await order_in(adapter, sim, refused)
    history = len(upstream(sim, reference).history)
    with pytest.raises(ActionNotAllowedError) as info:
        await adapter.perform(reference, action, {})
    assert info.value.status == 409 and refused not in info.value.detail  # our words, not Arrow's
    assert upstream(sim, reference).status == refused and len(upstream(sim, reference).history) == history


# --- metadata writes and reads ---------------------------------------------------------


async def test_metadata_writes_change_the_order_and_answer_it_fresh(
    adapter: ArrowAdapter, sim: Starlette
) -> None:
    reference = await order_in(adapter, sim, "Fulfilled")  # a final status: metadata still changes
    outcome = await adapter.perform(reference, "update_po", PAYLOADS["update_po"])
    assert outcome.order is not None and outcome.order.name == "PO-NEW"
    assert outcome.order.extra["customFields"] == [{"label": "Cost centre", "value": "CC-1"}]

    await adapter.perform(reference, "contributor", PAYLOADS["contributor"])
    await adapter.perform(reference, "additionalInformation", PAYLOADS["additionalInformation"])
    order = upstream(sim, reference)
    assert order.contributors == [{"type": "isr", "staffId": 42}]
    assert order.additional_information == [{"name": "domain", "value": "contoso.example"}]

    upload = Upload("quote.pdf", "application/pdf", b"%PDF-1.7")
    added = await adapter.perform(reference, "add_attachment", {"attachment": upload})
    assert added.resource == {"name": "quote.pdf", "last_modified": "2025-06-01T12:00:00Z", "size": 8}
    assert order.attachments["quote.pdf"].content == b"%PDF-1.7"
    listed = await adapter.perform(reference, "attachments", {})
    assert listed.resource == [
        {"name": "quote.pdf", "last_modified": "2025-06-01T12:00:00Z", "size": 8},
        {"name": "seed.txt", "last_modified": "2025-06-01T12:00:00Z", "size": 4},
    ]
    assert listed.order is not None and listed.order.native_id == reference
    deleted = await adapter.perform(reference, "delete_attachment", {"name": "quote.pdf"})
    assert deleted.order is not None and deleted.resource is None and "quote.pdf" not in order.attachments
    with pytest.raises(NotFoundError) as missing:
        await adapter.perform(reference, "delete_attachment", {"name": "quote.pdf"})
    assert type(missing.value) is NotFoundError  # the attachment, not the order

    history = await adapter.perform(reference, "history", {})
    actions = [entry["action"] for entry in history.resource]
    assert actions[0] == "create" and actions[-4:] == [
        "contributor",
        "additionalInformation",
        "attachment",
        "attachment",
    ]
    assert all(entry["at"] == "2025-06-01T12:00:00Z" for entry in history.resource)
    assert set(history.resource[0]) == {"action", "description", "user", "at"}


async def test_many_attachments_are_read_across_pages(adapter: ArrowAdapter, sim: Starlette) -> None:
    reference = await order_in(adapter, sim, "Open")
    order = upstream(sim, reference)
    for n in range(130):
        order.attachments[f"a{n:03}.txt"] = Attachment(f"a{n:03}.txt", b"x", NOW)
    listed = await adapter.perform(reference, "attachments", {})
    assert len(listed.resource) == 131 and listed.resource[-1]["name"] == "seed.txt"


@pytest.mark.parametrize("action", ["approve", "reject", "delete", "offering", "set_state_done"])
async def test_actions_arrow_lacks_are_422_and_change_nothing(
    adapter: ArrowAdapter, sim: Starlette, action: str
) -> None:
    reference = await order_in(adapter, sim, "Needs Validation")
    version = store_of(sim).version
    with pytest.raises(UnsupportedActionError) as info:
        await adapter.perform(reference, action, {})
    assert info.value.status == 422
    assert store_of(sim).version == version and upstream(sim, reference).status == "Needs Validation"


async def test_an_invalid_payload_is_422_before_any_call(adapter: ArrowAdapter, sim: Starlette) -> None:
    reference = await order_in(adapter, sim, "Open")
    version = store_of(sim).version
    with pytest.raises(ValidationFailedError) as info:
        await adapter.perform(reference, "contributor", {"contributor": [{"type": "boss", "staffId": 1}]})
    assert info.value.extensions["errors"][0]["loc"] == ["body", "contributor", 0, "type"]
    with pytest.raises(ValidationFailedError):
        await adapter.perform(reference, "cancel", {"reason": "too dear"})
    assert store_of(sim).version == version and upstream(sim, reference).status == "Open"


async def test_actions_on_unknown_orders_are_404(adapter: ArrowAdapter) -> None:
    for action in ("cancel", "update_po", "history", "attachments", "add_attachment", "delete_attachment"):
        with pytest.raises(OrderNotFoundError):
            await adapter.perform("XSPO999999", action, PAYLOADS.get(action, {}))
    with pytest.raises(OrderNotFoundError):
        await adapter.perform("not-a-reference", "cancel", {})


# --- Order.actions is what the simulator accepts, in every status ----------------------


@pytest.mark.parametrize("status", [*ORDER_STATUSES, *LOWER_CASE_STATUSES])
async def test_order_actions_are_exactly_the_writes_the_simulator_accepts(
    adapter: ArrowAdapter, sim: Starlette, status: str
) -> None:
    listed = (await adapter.get_order(await order_in(adapter, sim, status))).actions
    accepted = set()
    for action, payload in PAYLOADS.items():
        reference = await order_in(adapter, sim, status)  # each try on a fresh order
        try:
            await adapter.perform(reference, action, payload)
        except ActionNotAllowedError:
            continue
        accepted.add(action)
    assert set(listed) == accepted and len(listed) == len(accepted)
    assert set(METADATA_WRITES) <= accepted  # and the lifecycle ones vary: see LIFECYCLE_CASES
