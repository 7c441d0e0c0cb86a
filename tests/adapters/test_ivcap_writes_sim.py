"""The IVCAP adapter's writes against the simulated IVCAP over real HTTP, in both dialects."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.adapters.base import OrderDraft
from gateway.adapters.ivcap import IvcapAdapter
from gateway.errors import (
    OrderNotFoundError,
    UnsupportedActionError,
    ValidationFailedError,
)
from gateway.models import Status
from gateway.settings import IvcapSettings
from gateway.sim.ivcap import create_ivcap_sim
from gateway.sim.ivcap_data import ORDER_PLACED_SCHEMA, IvcapStore
from tests.support.credentials import SIM_TOKEN as TOKEN
from tests.support.servers import running_server

pytestmark = pytest.mark.e2e

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)  # an order created at NOW has succeeded by then
POLICY = "urn:ivcap:policy:3c1e0000-0000-4000-8000-000000000009"
MISSING = "urn:ivcap:order:00000000-0000-4000-8000-000000000000"
DIALECTS = ("current", "legacy")


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Upstream:
    dialect: str
    app: Starlette
    url: str
    clock: Clock

    @property
    def store(self) -> IvcapStore:
        store: IvcapStore = self.app.state.store
        return store

    @property
    def legacy(self) -> bool:
        return self.dialect == "legacy"


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, Upstream]]:
    """One simulated IVCAP per dialect, served for the whole module."""
    with ExitStack() as stack:
        found = {}
        for dialect in DIALECTS:
            clock = Clock()
            app = create_ivcap_sim(orders=20, seed=4, token=TOKEN, clock=clock, dialect=dialect)
            found[dialect] = Upstream(dialect, app, stack.enter_context(running_server(app)), clock)
        yield found


@pytest.fixture(params=DIALECTS)
def upstream(request: pytest.FixtureRequest, upstreams: dict[str, Upstream]) -> Upstream:
    return upstreams[request.param]


@pytest.fixture
def current(upstreams: dict[str, Upstream]) -> Upstream:
    return upstreams["current"]


@pytest.fixture
def legacy(upstreams: dict[str, Upstream]) -> Upstream:
    return upstreams["legacy"]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def adapter_for(http: httpx.AsyncClient, upstream: Upstream) -> IvcapAdapter:
    upstream.clock.now = NOW
    settings = IvcapSettings.model_validate(
        {
            "kind": "ivcap",
            "base_url": f"{upstream.url}/1/",
            "token": TOKEN,
            "dialect": upstream.dialect,
            "timeout_s": 5,
        }
    )
    return IvcapAdapter("ivcap", settings, http)


@pytest.fixture
def adapter(http: httpx.AsyncClient, upstream: Upstream) -> IvcapAdapter:
    return adapter_for(http, upstream)


def draft_for(upstream: Upstream, marker: str, **changes: Any) -> OrderDraft:
    store = upstream.store
    draft = OrderDraft(
        name="Fire risk for Lot 9",
        service=store.services[0].id,
        customer=store.accounts[2].id if upstream.legacy else None,
        items=(),
        parameters={"region": "Upper Valley", "threshold": 10},
        provider_options={},
        marker=marker,
    )
    return replace(draft, **changes)


# --- create and find -------------------------------------------------------------------


async def test_create_then_read(adapter: IvcapAdapter, upstream: Upstream) -> None:
    order = await adapter.create_order(draft_for(upstream, "ogw-c1"))
    assert order.native_id.startswith("urn:ivcap:order:") and order.provider_kind == "ivcap"
    assert (order.name, order.status, order.provider_status) == (
        "Fire risk for Lot 9",
        Status.PENDING,
        "pending",
    )
    assert order.created_at == NOW and order.service is not None
    assert order.extra["parameters"] == [
        {"name": "region", "value": "Upper Valley"},
        {"name": "threshold", "value": "10"},
    ]
    assert await adapter.get_order(order.native_id) == order
    stored = upstream.store.get(order.native_id)
    assert stored is not None and stored.service.id == upstream.store.services[0].id
    if upstream.legacy:
        assert order.actions == () and stored.account.id == upstream.store.accounts[2].id
        schemas = {a.schema for a in upstream.store.aspects(order.native_id)}
        assert "urn:order-gateway:schema:marker:ogw-c1" in schemas
    else:
        assert order.actions == ("add_metadata",) and stored.tags == ("ogw:ogw-c1",)


async def test_find_created_finds_the_order_by_its_marker(adapter: IvcapAdapter, upstream: Upstream) -> None:
    first = await adapter.create_order(draft_for(upstream, "ogw-f1"))
    second = await adapter.create_order(draft_for(upstream, "ogw-f2"))  # same service and name
    assert await adapter.find_created(draft_for(upstream, "ogw-f1")) == first
    assert await adapter.find_created(draft_for(upstream, "ogw-f2")) == second
    assert await adapter.find_created(draft_for(upstream, "ogw-never")) is None
    assert await adapter.find_created(draft_for(upstream, "ogw-f1", name="Other")) is None
    assert await adapter.find_created(draft_for(upstream, "ogw-f1", service="nope")) is None


async def test_a_refused_or_invalid_create_is_422_and_makes_no_order(
    adapter: IvcapAdapter, upstream: Upstream
) -> None:
    before = len(upstream.store)
    unknown = "urn:ivcap:service:00000000-0000-4000-8000-000000000000"
    with pytest.raises(ValidationFailedError) as info:
        await adapter.create_order(draft_for(upstream, "ogw-r1", service=unknown))
    assert info.value.extensions["errors"][0]["loc"] == (["body"] if upstream.legacy else ["body", "service"])
    version = upstream.store.version
    with pytest.raises(ValidationFailedError) as invalid:
        await adapter.create_order(draft_for(upstream, "ogw-r2", parameters={"region": {"x": 1}}))
    assert invalid.value.extensions["errors"][0]["loc"] == ["body", "parameters", "region"]
    assert len(upstream.store) == before and upstream.store.version == version


# --- actions ---------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["cancel", "approve", "reject", "delete", "history", "unlink"])
async def test_actions_ivcap_lacks_are_422_in_every_state_and_change_nothing(
    adapter: IvcapAdapter, upstream: Upstream, action: str
) -> None:
    order = await adapter.create_order(draft_for(upstream, f"ogw-u-{action}"))
    for moment in (NOW, LATER):  # pending, then succeeded
        upstream.clock.now = moment
        version = upstream.store.version
        with pytest.raises(UnsupportedActionError) as info:
            await adapter.perform(order.native_id, action, {})
        assert info.value.status == 422 and upstream.store.version == version
    assert (await adapter.get_order(order.native_id)).status is Status.COMPLETED


async def test_products_appear_once_the_order_has_succeeded(
    adapter: IvcapAdapter, upstream: Upstream
) -> None:
    order = await adapter.create_order(draft_for(upstream, "ogw-p1"))
    pending = await adapter.perform(order.native_id, "products", {})
    assert pending.resource == [] and pending.order == order
    upstream.clock.now = LATER
    done = await adapter.perform(order.native_id, "products", {})
    stored = upstream.store.get(order.native_id)
    assert stored is not None and done.order is not None and done.order.status is Status.COMPLETED
    expected = [
        {"id": p.id, "name": p.name, "status": "ready", "mime_type": p.mime_type, "size": p.size}
        for p in stored.products
    ]
    assert sorted(done.resource, key=lambda p: p["id"]) == sorted(expected, key=lambda p: p["id"])
    assert upstream.url not in repr(done.resource) and "href" not in repr(done.resource)


async def test_metadata_lists_the_orders_aspects(adapter: IvcapAdapter, upstream: Upstream) -> None:
    order = await adapter.create_order(draft_for(upstream, "ogw-m1"))
    outcome = await adapter.perform(order.native_id, "metadata", {})
    placed = [row for row in outcome.resource if row["schema"] == ORDER_PLACED_SCHEMA]
    assert len(placed) == 1 and placed[0]["id"].startswith("urn:ivcap:aspect:")
    if upstream.legacy:  # the read lists ids and schemas only
        assert placed[0] == {
            "id": placed[0]["id"],
            "schema": ORDER_PLACED_SCHEMA,
            "content_type": None,
            "valid_from": None,
        }
    else:
        assert (
            placed[0]["valid_from"] == "2025-06-01T12:00:00Z"
            and placed[0]["content_type"] == "application/json"
        )
        assert placed[0]["content"]["service"] == upstream.store.services[0].id


@pytest.mark.parametrize("action", ["add_metadata", "offering"])
async def test_the_legacy_shape_refuses_what_it_has_no_endpoint_for(
    http: httpx.AsyncClient, legacy: Upstream, action: str
) -> None:
    adapter = adapter_for(http, legacy)
    order = await adapter.create_order(draft_for(legacy, f"ogw-l-{action}"))
    version = legacy.store.version
    with pytest.raises(UnsupportedActionError):
        await adapter.perform(order.native_id, action, {"schema": "urn:x:s.1", "content": {}})
    assert legacy.store.version == version


async def test_add_metadata_adds_an_aspect_and_answers_the_fresh_order(
    http: httpx.AsyncClient, current: Upstream
) -> None:
    upstream, adapter = current, adapter_for(http, current)
    order = await adapter.create_order(draft_for(upstream, "ogw-a1"))
    upstream.clock.now = LATER
    payload = {"schema": "urn:example:schema:review.1", "content": {"checked": True}, "policy": POLICY}
    outcome = await adapter.perform(order.native_id, "add_metadata", payload)
    assert outcome.resource["id"].startswith("urn:ivcap:aspect:")
    assert outcome.order is not None and outcome.order.status is Status.COMPLETED  # re-read after the write
    aspect = upstream.store.aspect(outcome.resource["id"])
    assert aspect is not None and aspect.entity == order.native_id and aspect.policy == POLICY
    assert aspect.content == {
        "checked": True,
        "$schema": "urn:example:schema:review.1",
        "$entity": order.native_id,
    }
    listed = await adapter.perform(order.native_id, "metadata", {})
    mine = next(row for row in listed.resource if row["id"] == outcome.resource["id"])
    assert mine["content"] == aspect.content and mine["valid_from"] == "2025-06-01T12:05:00Z"


async def test_metadata_is_read_across_pages(http: httpx.AsyncClient, current: Upstream) -> None:
    upstream, adapter = current, adapter_for(http, current)  # a legacy read embeds every aspect at once
    order = await adapter.create_order(draft_for(upstream, "ogw-a2"))
    for n in range(60):
        upstream.store.add_aspect(order.native_id, f"urn:x:n{n}.1", {"n": n}, valid_from=NOW)
    listed = await adapter.perform(order.native_id, "metadata", {})
    assert len(listed.resource) == 61 and len({row["id"] for row in listed.resource}) == 61


async def test_offering_is_the_orders_service(http: httpx.AsyncClient, current: Upstream) -> None:
    upstream, adapter = current, adapter_for(http, current)
    order = await adapter.create_order(draft_for(upstream, "ogw-o1"))
    outcome = await adapter.perform(order.native_id, "offering", {})
    service = upstream.store.services[0]
    assert outcome.resource["id"] == service.id == (order.service.id if order.service else None)
    assert outcome.resource["name"] == service.name and outcome.resource["status"] == "active"
    assert [p["name"] for p in outcome.resource["parameters"]] == [name for name, _ in service.parameters]
    assert upstream.url not in repr(outcome.resource) and "links" not in outcome.resource


async def test_payloads_are_validated_before_any_call(adapter: IvcapAdapter, upstream: Upstream) -> None:
    order = await adapter.create_order(draft_for(upstream, "ogw-v1"))
    version = upstream.store.version
    bad = [("metadata", {"include": "content"}), ("products", {"limit": 5})]
    if not upstream.legacy:
        bad.append(("add_metadata", {"schema": "urn:x:s.1", "content": {}, "policy": "urn:ivcap:order:x"}))
    for action, payload in bad:
        with pytest.raises(ValidationFailedError):
            await adapter.perform(order.native_id, action, payload)
    assert upstream.store.version == version


async def test_actions_on_unknown_orders_are_404_and_add_nothing(
    adapter: IvcapAdapter, upstream: Upstream
) -> None:
    actions = ["metadata", "products"] + ([] if upstream.legacy else ["offering", "add_metadata"])
    for action in actions:
        payload = {"schema": "urn:x:s.1", "content": {}} if action == "add_metadata" else {}
        with pytest.raises(OrderNotFoundError):
            await adapter.perform(MISSING, action, payload)
        with pytest.raises(OrderNotFoundError):
            await adapter.perform("not-a-urn", action, payload)
    assert list(upstream.store.aspects(MISSING)) == []
