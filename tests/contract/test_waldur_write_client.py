"""The simulated Waldur's writes, served by real uvicorn, driven by the real ``waldur-api-client``
(waldur.md §8.3): every success status and body the 8.1.3 client insists on."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
from starlette.applications import Starlette
from waldur_api_client import AuthenticatedClient, errors
from waldur_api_client.api.marketplace_orders import (
    marketplace_orders_approve_by_consumer,
    marketplace_orders_approve_by_provider,
    marketplace_orders_cancel,
    marketplace_orders_create,
    marketplace_orders_delete_attachment,
    marketplace_orders_destroy,
    marketplace_orders_offering_retrieve,
    marketplace_orders_reject_by_consumer,
    marketplace_orders_reject_by_provider,
    marketplace_orders_retrieve,
    marketplace_orders_retry,
    marketplace_orders_set_backend_id,
    marketplace_orders_set_state_done,
    marketplace_orders_set_state_erred,
    marketplace_orders_set_state_executing,
    marketplace_orders_unlink,
    marketplace_orders_update_attachment,
)
from waldur_api_client.models.order_approve_by_provider_request import OrderApproveByProviderRequest
from waldur_api_client.models.order_attachment_request_multipart import OrderAttachmentRequestMultipart
from waldur_api_client.models.order_backend_id_request import OrderBackendIDRequest
from waldur_api_client.models.order_create_request import OrderCreateRequest
from waldur_api_client.models.order_details_limits import OrderDetailsLimits
from waldur_api_client.models.order_error_details_request import OrderErrorDetailsRequest
from waldur_api_client.models.order_provider_rejection_request import OrderProviderRejectionRequest
from waldur_api_client.models.order_state import OrderState
from waldur_api_client.types import File

from gateway.sim.waldur import create_waldur_sim
from gateway.sim.waldur_catalogue import Offering
from gateway.sim.waldur_data import WaldurStore
from tests.support.credentials import SIM_TOKEN as TOKEN
from tests.support.servers import running_server

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim() -> Starlette:
    return create_waldur_sim(orders=40, seed=11, token=TOKEN, clock=lambda: NOW)


@pytest.fixture(scope="module")
def sim_url(sim: Starlette) -> Iterator[str]:
    with running_server(sim) as url:
        yield url


@pytest.fixture
def client(sim_url: str) -> Iterator[AuthenticatedClient]:
    with AuthenticatedClient(base_url=sim_url, token=TOKEN) as client:
        yield client


def store_of(sim: Starlette) -> WaldurStore:
    store: WaldurStore = sim.state.store
    return store


def offering(sim: Starlette, kind: str, *, review: bool) -> Offering:
    return next(
        o for o in store_of(sim).catalogue.offerings if o.type == kind and o.needs_provider_review == review
    )


def create(client: AuthenticatedClient, sim: Starlette, sim_url: str, chosen: Offering, **extra: Any) -> UUID:
    project = store_of(sim).catalogue.projects[0]
    body: dict[str, Any] = {
        "offering": f"{sim_url}/api/marketplace-public-offerings/{chosen.uuid}/",
        "project": f"{sim_url}/api/projects/{project.uuid}/",
        "plan": f"{sim_url}/api/marketplace-public-offerings/{chosen.uuid}/plans/{chosen.plans[0].uuid}/",
        "attributes": {"name": "contract-vm"},
        **extra,
    }
    order = marketplace_orders_create.sync(client=client, body=OrderCreateRequest.from_dict(body))
    assert order.state == OrderState.PENDING_CONSUMER
    assert isinstance(order.uuid, UUID)
    return order.uuid


def state_of(client: AuthenticatedClient, order: UUID) -> OrderState:
    state = marketplace_orders_retrieve.sync(order, client=client).state
    assert isinstance(state, OrderState)
    return state


def test_create_answers_201_order_details(client: AuthenticatedClient, sim: Starlette, sim_url: str) -> None:
    chosen = offering(sim, "Marketplace.Basic", review=True)
    limits = {chosen.components[0].type: 4}
    order = create(
        client, sim, sim_url, chosen, limits=limits, slug="ogw-contract-1", start_date="2025-06-01"
    )
    fetched = marketplace_orders_retrieve.sync(order, client=client)
    assert fetched.slug == "ogw-contract-1"
    assert isinstance(fetched.limits, OrderDetailsLimits) and fetched.limits.to_dict() == limits
    assert fetched.offering_uuid == UUID(chosen.uuid)


def test_consumer_then_provider_approval_need_their_detail(
    client: AuthenticatedClient, sim: Starlette, sim_url: str
) -> None:
    order = create(client, sim, sim_url, offering(sim, "Marketplace.Basic", review=True))
    answer = marketplace_orders_approve_by_consumer.sync(order, client=client)
    assert answer.detail == "Order is pending provider approval."
    assert state_of(client, order) == OrderState.PENDING_PROVIDER
    body = OrderApproveByProviderRequest.from_dict({"attributes": {"ticket": "T-9"}})
    provider = marketplace_orders_approve_by_provider.sync(order, client=client, body=body)
    assert provider is not None and provider.detail == "Order has been approved and is being processed."
    assert state_of(client, order) == OrderState.EXECUTING


def test_cancel_answers_202(client: AuthenticatedClient, sim: Starlette, sim_url: str) -> None:
    order = create(client, sim, sim_url, offering(sim, "Support.OfferingTemplate", review=True))
    response = marketplace_orders_cancel.sync_detailed(order, client=client)
    assert response.status_code == 202
    assert state_of(client, order) == OrderState.CANCELED


def test_a_refused_state_is_409_for_the_client(
    client: AuthenticatedClient, sim: Starlette, sim_url: str
) -> None:
    order = create(client, sim, sim_url, offering(sim, "Marketplace.Basic", review=False))
    marketplace_orders_cancel.sync_detailed(order, client=client)
    with pytest.raises(errors.UnexpectedStatus) as caught:
        marketplace_orders_approve_by_consumer.sync(order, client=client)
    assert caught.value.status_code == 409
    assert b"Valid states for operation: pending-consumer." in caught.value.content
    # approve_by_provider documents 409: the client answers None instead of raising.
    body = OrderApproveByProviderRequest.from_dict({})
    assert marketplace_orders_approve_by_provider.sync(order, client=client, body=body) is None


def test_an_offering_type_refusal_is_405_for_the_client(
    client: AuthenticatedClient, sim: Starlette, sim_url: str
) -> None:
    order = create(client, sim, sim_url, offering(sim, "Marketplace.Slurm", review=False))
    with pytest.raises(errors.UnexpectedStatus) as caught:
        marketplace_orders_cancel.sync_detailed(order, client=client)
    assert caught.value.status_code == 405


def test_rejections_answer_200_without_a_body(
    client: AuthenticatedClient, sim: Starlette, sim_url: str
) -> None:
    by_consumer = create(client, sim, sim_url, offering(sim, "Marketplace.Basic", review=True))
    body = OrderErrorDetailsRequest.from_dict({"consumer_rejection_comment": "No budget."})
    assert (
        marketplace_orders_reject_by_consumer.sync_detailed(by_consumer, client=client, body=body).status_code
        == 200
    )
    assert state_of(client, by_consumer) == OrderState.REJECTED
    by_provider = create(client, sim, sim_url, offering(sim, "Marketplace.Basic", review=True))
    marketplace_orders_approve_by_consumer.sync(by_provider, client=client)
    rejection = OrderProviderRejectionRequest.from_dict({"provider_rejection_comment": "Full."})
    response = marketplace_orders_reject_by_provider.sync_detailed(by_provider, client=client, body=rejection)
    assert response.status_code == 200
    assert marketplace_orders_retrieve.sync(by_provider, client=client).provider_rejection_comment == "Full."


def test_site_agent_calls_walk_a_slurm_order(
    client: AuthenticatedClient, sim: Starlette, sim_url: str
) -> None:
    order = create(client, sim, sim_url, offering(sim, "Marketplace.Slurm", review=False))
    assert marketplace_orders_set_state_executing.sync_detailed(order, client=client).status_code == 200
    status = marketplace_orders_set_backend_id.sync(
        order, client=client, body=OrderBackendIDRequest(backend_id="alloc_1234")
    )
    assert status.status == "Order backend_id has been changed."
    erred = OrderErrorDetailsRequest.from_dict({"error_message": "Quota", "error_traceback": "tb"})
    assert (
        marketplace_orders_set_state_erred.sync_detailed(order, client=client, body=erred).status_code == 200
    )
    assert state_of(client, order) == OrderState.ERRED
    assert marketplace_orders_retry.sync_detailed(order, client=client).status_code == 200
    assert marketplace_orders_set_state_done.sync_detailed(order, client=client).status_code == 200
    done = marketplace_orders_retrieve.sync(order, client=client)
    assert done.state == OrderState.DONE and done.backend_id == "alloc_1234"
    assert isinstance(done.completed_at, datetime)


def test_attachments_round_trip(client: AuthenticatedClient, sim: Starlette, sim_url: str) -> None:
    order = create(client, sim, sim_url, offering(sim, "Marketplace.Basic", review=True))
    upload = File(payload=io.BytesIO(b"%PDF-1.4 po"), file_name="po.pdf", mime_type="application/pdf")
    answer = marketplace_orders_update_attachment.sync(
        order, client=client, body=OrderAttachmentRequestMultipart(attachment=upload)
    )
    assert isinstance(answer.attachment, str)
    assert httpx.get(answer.attachment).content == b"%PDF-1.4 po"
    assert marketplace_orders_retrieve.sync(order, client=client).attachment == answer.attachment
    assert marketplace_orders_delete_attachment.sync_detailed(order, client=client).status_code == 204


def test_destroy_and_unlink_answer_204(client: AuthenticatedClient, sim: Starlette, sim_url: str) -> None:
    pending = create(client, sim, sim_url, offering(sim, "Marketplace.Basic", review=True))
    assert marketplace_orders_destroy.sync_detailed(pending, client=client).status_code == 204
    stuck = create(client, sim, sim_url, offering(sim, "Marketplace.Slurm", review=False))
    assert marketplace_orders_unlink.sync_detailed(stuck, client=client).status_code == 204
    for gone in (pending, stuck):
        with pytest.raises(errors.UnexpectedStatus) as caught:
            marketplace_orders_retrieve.sync(gone, client=client)
        assert caught.value.status_code == 404


def test_offering_parses_as_public_offering_details(
    client: AuthenticatedClient, sim: Starlette, sim_url: str
) -> None:
    chosen = offering(sim, "Marketplace.Slurm", review=False)
    order = create(client, sim, sim_url, chosen)
    details = marketplace_orders_offering_retrieve.sync(order, client=client)
    assert details.uuid == UUID(chosen.uuid) and details.name == chosen.name
    assert details.customer_uuid == UUID(chosen.provider.uuid)
    assert isinstance(details.plans, list) and isinstance(details.components, list)
    assert [plan.uuid for plan in details.plans] == [UUID(plan.uuid) for plan in chosen.plans]
    assert [component.type_ for component in details.components] == [c.type for c in chosen.components]
    assert details.additional_properties == {}
