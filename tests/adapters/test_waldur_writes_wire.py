"""The Waldur write functions, without a network: create mapping, payloads, refusals, actions."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.adapters.base import GENERIC_ACTIONS, OrderDraft, Upload
from gateway.adapters.waldur import WALDUR_CAPABILITIES, WALDUR_STATES
from gateway.adapters.waldur.actions import (
    WALDUR_ACTIONS,
    ActionCall,
    action_refusal,
    parse_offering,
    plan_action,
)
from gateway.adapters.waldur.create import (
    create_body,
    create_refusal,
    find_params,
    parse_created,
    pick_created,
)
from gateway.adapters.waldur.transitions import (
    WALDUR_ACTION_ENDPOINTS,
    WALDUR_ENDPOINT_RULES,
    OrderFacts,
    available_actions,
)
from gateway.adapters.waldur.wire import WaldurContext, parse_order
from gateway.errors import (
    ActionNotAllowedError,
    GatewayError,
    OrderNotFoundError,
    UnsupportedActionError,
    UpstreamAuthError,
    UpstreamBadResponseError,
    UpstreamError,
    ValidationFailedError,
)
from tests.adapters.samples import BASE, waldur_order

CTX = WaldurContext(
    instance="waldur-eu",
    currency="EUR",
    upstream_origin="http://10.1.2.3:9001",
    public_url=None,
    gateway_url="https://gw.example.org",
)
OFFERING = "5f1c2a3b000040008000000000000001"
PROJECT = "5f1c2a3b000040008000000000000002"
PLAN = "5f1c2a3b000040008000000000000004"
MARKER = "ogw-0123456789abcdef0123"


def draft(**changes: Any) -> OrderDraft:
    fields: dict[str, Any] = {
        "name": "vm-1",
        "service": OFFERING,
        "customer": PROJECT,
        "items": (),
        "parameters": {},
        "provider_options": {},
        "marker": MARKER,
    }
    fields.update(changes)
    return OrderDraft(**fields)


def errors_of(exc: GatewayError) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = exc.extensions["errors"]
    return found


# --- create ----------------------------------------------------------------------------


def test_create_body_maps_every_draft_field_to_order_create_request() -> None:
    body = create_body(
        draft(
            service="5F1C2A3B-0000-4000-8000-000000000001",
            items=({"id": "cpu", "quantity": 2}, {"id": "ram", "quantity": 4096}),
            parameters={"flavor": "small"},
            provider_options={
                "plan": PLAN,
                "start_date": "2025-07-01",
                "request_comment": "For the course.",
                "callback_url": "https://hooks.example.org/waldur",
                "accepting_terms_of_service": True,
            },
        ),
        BASE,
    )
    assert body == {
        "offering": f"{BASE}marketplace-public-offerings/{OFFERING}/",
        "project": f"{BASE}projects/{PROJECT}/",
        "plan": f"{BASE}marketplace-public-offerings/{OFFERING}/plans/{PLAN}/",
        "attributes": {"flavor": "small", "name": "vm-1"},
        "limits": {"cpu": 2, "ram": 4096},
        "slug": MARKER,
        "start_date": "2025-07-01",
        "request_comment": "For the course.",
        "callback_url": "https://hooks.example.org/waldur",
        "accepting_terms_of_service": True,
    }


def test_a_minimal_draft_still_sends_attributes() -> None:
    body = create_body(draft(name=None), BASE)
    assert body == {
        "offering": f"{BASE}marketplace-public-offerings/{OFFERING}/",
        "project": f"{BASE}projects/{PROJECT}/",
        "attributes": {},
        "slug": MARKER,
    }


@pytest.mark.parametrize(
    ("changes", "locs"),
    [
        ({"service": None, "customer": None}, [["body", "service"], ["body", "customer"]]),
        ({"service": "vm"}, [["body", "service"]]),
        ({"items": ({"id": "cpu", "quantity": "2"},)}, [["body", "items", 0, "quantity"]]),
        ({"items": ({"id": "cpu", "quantity": -1},)}, [["body", "items", 0, "quantity"]]),
        ({"items": ({"sku": "cpu", "quantity": 1},)}, [["body", "items", 0, "id"], ["body", "items", 0, "sku"]]),
        ({"items": ({"id": "cpu", "quantity": 1}, {"id": "cpu", "quantity": 2})}, [["body", "items", 1, "id"]]),
        ({"provider_options": {"plan": "monthly"}}, [["body", "provider_options", "plan"]]),
        ({"provider_options": {"start_date": "soon"}}, [["body", "provider_options", "start_date"]]),
        ({"provider_options": {"callback_url": "ftp://x"}}, [["body", "provider_options", "callback_url"]]),
        ({"provider_options": {"accepting_terms_of_service": "yes"}}, [["body", "provider_options", "accepting_terms_of_service"]]),
        ({"provider_options": {"colour": "red"}}, [["body", "provider_options", "colour"]]),
        ({"parameters": {"name": "other"}}, [["body", "parameters", "name"]]),
    ],
)  # fmt: skip
def test_create_validation_names_each_bad_field(changes: dict[str, Any], locs: list[list[Any]]) -> None:
    with pytest.raises(ValidationFailedError) as caught:
        create_body(draft(**changes), BASE)
    assert [error["loc"] for error in errors_of(caught.value)] == locs
    assert all(error["msg"] for error in errors_of(caught.value))


def test_find_params_search_the_marker_within_the_offering_and_project() -> None:
    params = find_params(draft(service=OFFERING.upper()))
    assert ("query", MARKER) in params
    assert ("offering_uuid", OFFERING) in params and ("project_uuid", PROJECT) in params


def test_pick_created_wants_the_exact_slug() -> None:
    near = parse_order(CTX, 200, orjson.dumps(waldur_order(uuid="a" * 32, slug=MARKER + "-x")))
    exact = parse_order(CTX, 200, orjson.dumps(waldur_order(uuid="b" * 32, slug=MARKER)))
    assert pick_created([near, exact], MARKER) == exact
    assert pick_created([near], MARKER) is None


def test_parse_created_reads_the_201_order() -> None:
    order = parse_created(CTX, 201, orjson.dumps(waldur_order()))
    assert (
        order.native_id == "0b9f3c1e6d2a4f5b8c7d9e0f1a2b3c4d" and order.provider_status == "pending-consumer"
    )


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"offering": ["Invalid hyperlink - Object does not exist."], "plan": ["This plan is not available for selected offering."]},
            [
                {"loc": ["body", "service"], "msg": "Not found at the provider"},
                {"loc": ["body", "provider_options", "plan"], "msg": "The plan is not one of this service's plans"},
            ],
        ),
        ({"limits": {"cpu": ["A valid integer is required."]}}, [{"loc": ["body", "items"], "msg": "The provider refused this value"}]),
        ({"limits": ["Invalid types: gpu"]}, [{"loc": ["body", "items"], "msg": "Not a component this service can limit"}]),
        ({"non_field_errors": ["Terms of service for offering 'X' have not been accepted."]}, [{"loc": ["body"], "msg": "The service's terms of service must be accepted"}]),
        (["Offering is not available."], [{"loc": ["body"], "msg": "The provider refused the order"}]),
        ("<html>", [{"loc": ["body"], "msg": "The provider refused the order"}]),
    ],
)  # fmt: skip
def test_a_create_400_is_a_validation_failure_in_our_words(body: Any, errors: list[dict[str, Any]]) -> None:
    content = body.encode() if isinstance(body, str) else orjson.dumps(body)
    with pytest.raises(ValidationFailedError) as caught:
        parse_created(CTX, 400, content)
    assert errors_of(caught.value) == errors
    assert "Invalid hyperlink" not in str(caught.value.extensions)


@pytest.mark.parametrize(
    ("status", "error"), [(401, UpstreamAuthError), (403, UpstreamAuthError), (500, UpstreamBadResponseError)]
)
def test_other_create_failures_use_the_read_table(status: int, error: type[GatewayError]) -> None:
    with pytest.raises(error):
        parse_created(CTX, status, b'{"detail": "x"}')
    with pytest.raises(UpstreamBadResponseError):
        parse_created(CTX, 201, b"<html>")


def test_create_refusal_is_a_validation_failed_error() -> None:
    assert isinstance(create_refusal(b"[]"), ValidationFailedError)


# --- actions ---------------------------------------------------------------------------


def test_every_gateway_action_is_planned_and_history_is_not() -> None:
    assert set(WALDUR_ACTIONS) == (GENERIC_ACTIONS - {"history"}) | WALDUR_CAPABILITIES.actions
    assert not WALDUR_CAPABILITIES.actions & GENERIC_ACTIONS
    assert WALDUR_CAPABILITIES.admin_actions < WALDUR_CAPABILITIES.actions
    assert WALDUR_CAPABILITIES.can_create and WALDUR_CAPABILITIES.can_delete
    for action in ("history", "explode"):
        with pytest.raises(UnsupportedActionError):
            plan_action(action, {})


UPLOAD = Upload(filename="po.pdf", content_type="application/pdf", content=b"%PDF")


@pytest.mark.parametrize(
    ("action", "payload", "call"),
    [
        ("approve", {}, ActionCall("POST", "approve_by_consumer/")),
        ("approve", {"as": "provider"}, ActionCall("POST", "approve_by_provider/", json={})),
        ("approve", {"as": "provider", "attributes": {"t": 1}}, ActionCall("POST", "approve_by_provider/", json={"attributes": {"t": 1}})),
        ("reject", {}, ActionCall("POST", "reject_by_consumer/", json={})),
        ("reject", {"as": "consumer", "comment": "No."}, ActionCall("POST", "reject_by_consumer/", json={"consumer_rejection_comment": "No."})),
        ("reject", {"as": "provider", "comment": "Full."}, ActionCall("POST", "reject_by_provider/", json={"provider_rejection_comment": "Full."})),
        ("cancel", {}, ActionCall("POST", "cancel/")),
        ("delete", {}, ActionCall("DELETE", "", gone=True)),
        ("unlink", {}, ActionCall("POST", "unlink/", gone=True)),
        ("offering", {}, ActionCall("GET", "offering/", reads_offering=True)),
        ("set_state_erred", {}, ActionCall("POST", "set_state_erred/", json={"error_message": "", "error_traceback": ""})),
        ("set_state_erred", {"message": "m", "traceback": "t"}, ActionCall("POST", "set_state_erred/", json={"error_message": "m", "error_traceback": "t"})),
        ("set_backend_id", {"backend_id": "b-1"}, ActionCall("POST", "set_backend_id/", json={"backend_id": "b-1"})),
        ("update_attachment", {"attachment": UPLOAD}, ActionCall("POST", "update_attachment/", files={"attachment": ("po.pdf", b"%PDF", "application/pdf")})),
        ("delete_attachment", {}, ActionCall("POST", "delete_attachment/")),
        ("retry", {}, ActionCall("POST", "retry/")),
        ("set_state_done", {}, ActionCall("POST", "set_state_done/")),
        ("set_state_executing", {}, ActionCall("POST", "set_state_executing/")),
    ],
)  # fmt: skip
def test_plan_action_builds_the_upstream_call(action: str, payload: dict[str, Any], call: ActionCall) -> None:
    assert plan_action(action, payload) == call


@pytest.mark.parametrize(
    ("action", "payload", "loc"),
    [
        ("approve", {"as": "admin"}, ["body", "as"]),
        ("approve", {"attributes": {"t": 1}}, ["body", "attributes"]),
        ("approve", {"as": "provider", "attributes": [1]}, ["body", "attributes"]),
        ("reject", {"comment": 5}, ["body", "comment"]),
        ("cancel", {"reason": "x"}, ["body", "reason"]),
        ("set_backend_id", {}, ["body", "backend_id"]),
        ("set_backend_id", {"backend_id": " "}, ["body", "backend_id"]),
        ("set_backend_id", {"backend_id": 7}, ["body", "backend_id"]),
        ("set_state_erred", {"message": ["x"]}, ["body", "message"]),
        ("update_attachment", {}, ["body", "attachment"]),
        ("update_attachment", {"attachment": "po.pdf"}, ["body", "attachment"]),
    ],
)
def test_bad_payloads_fail_before_any_call_with_body_paths(
    action: str, payload: dict[str, Any], loc: list[str]
) -> None:
    with pytest.raises(ValidationFailedError) as caught:
        plan_action(action, payload)
    assert [error["loc"] for error in errors_of(caught.value)] == [loc]


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (409, {"detail": "Valid states for operation: pending-consumer."}, ActionNotAllowedError),
        (405, {"detail": 'Method "The order\'s offering with Marketplace.Slurm type does not support this action" not allowed.'}, UnsupportedActionError),
        (400, ["Order is already reviewed by consumer."], ActionNotAllowedError),
        (404, {"detail": "No Order matches the given query."}, OrderNotFoundError),
        (401, {"detail": "Invalid token."}, UpstreamAuthError),
        (403, {"detail": "You do not have permission to perform this action."}, UpstreamAuthError),
        (502, "<html>bad gateway</html>", UpstreamBadResponseError),
        (429, {"detail": "Request was throttled."}, UpstreamError),
    ],
)  # fmt: skip
def test_action_refusals_map_by_status_and_never_echo_upstream_text(
    status: int, body: Any, error: type[GatewayError]
) -> None:
    content = body.encode() if isinstance(body, str) else orjson.dumps(body)
    mapped = action_refusal("waldur-eu", status, content)
    assert type(mapped) is error
    text = str(mapped) + str(mapped.extensions)
    for upstream in ("Valid states", "Marketplace.Slurm", "already reviewed", "Invalid token", "throttled"):
        assert upstream not in text


# --- which actions an order lists (§6) -------------------------------------------------


def test_every_action_and_endpoint_has_a_rule() -> None:
    endpoints = {e for chain in WALDUR_ACTION_ENDPOINTS.values() for e in chain}
    assert endpoints == set(WALDUR_ENDPOINT_RULES)
    listed = set(WALDUR_ACTION_ENDPOINTS)
    assert listed == (GENERIC_ACTIONS - {"offering", "history"}) | WALDUR_CAPABILITIES.actions
    for rule in WALDUR_ENDPOINT_RULES.values():
        assert rule.states is None or rule.states <= WALDUR_STATES.keys()


@pytest.mark.parametrize(
    ("facts", "actions"),
    [
        (OrderFacts("pending-consumer", "Marketplace.Basic"), ("approve", "reject", "cancel", "delete", "update_attachment", "set_backend_id", "unlink")),
        (OrderFacts("pending-consumer", "Marketplace.Slurm", has_attachment=True, consumer_reviewed=True), ("approve", "delete", "update_attachment", "delete_attachment", "set_backend_id", "set_state_executing", "set_state_erred", "unlink")),
        (OrderFacts("pending-project", "Support.OfferingTemplate"), ("update_attachment", "set_backend_id", "unlink")),
        (OrderFacts("executing", "Marketplace.Slurm"), ("set_backend_id", "set_state_done", "set_state_erred", "unlink")),
        (OrderFacts("executing", "Support.OfferingTemplate"), ("cancel", "set_backend_id", "set_state_done", "unlink")),
        (OrderFacts("erred", "Marketplace.Slurm"), ("set_backend_id", "set_state_executing", "set_state_erred", "retry", "unlink")),
        (OrderFacts("done", "Marketplace.Basic"), ("set_backend_id", "unlink")),
        (OrderFacts("done", None), ("set_backend_id", "unlink")),
    ],
)  # fmt: skip
def test_available_actions_follow_state_and_offering_type(
    facts: OrderFacts, actions: tuple[str, ...]
) -> None:
    assert available_actions(facts) == actions


def test_to_order_lists_the_actions_of_the_body() -> None:
    body = waldur_order(
        state="pending-provider", offering_type="Marketplace.Basic", consumer_reviewed_by="alice"
    )
    order = parse_order(CTX, 200, orjson.dumps(body))
    assert order.actions == ("approve", "reject", "cancel", "delete", "update_attachment",
                             "delete_attachment", "set_backend_id", "unlink")  # fmt: skip


# --- the offering ----------------------------------------------------------------------


def test_parse_offering_normalises_public_offering_details() -> None:
    body = {
        "uuid": OFFERING,
        "url": f"{BASE}marketplace-public-offerings/{OFFERING}/",
        "name": "Small VM",
        "description": "VMs.",
        "type": "Marketplace.Basic",
        "state": "Active",
        "customer_uuid": "5f1c2a3b000040008000000000000009",
        "customer_name": "Cloud Provider Ltd",
        "category_title": "Virtual machines",
        "plans": [
            {"uuid": PLAN, "name": "Monthly", "unit": "month", "unit_price": "10.5000000000", "prices": {"cpu": "6.5000000000"}},
            {"uuid": "5f1c2a3b000040008000000000000005", "name": "Free", "unit": "month"},
        ],
        "components": [{"type": "cpu", "name": "CPU", "measured_unit": "cores", "billing_type": "limit", "max_value": 8}],
        "endpoints": [],
    }  # fmt: skip
    assert parse_offering(CTX, 200, orjson.dumps(body)) == {
        "id": OFFERING,
        "name": "Small VM",
        "description": "VMs.",
        "type": "Marketplace.Basic",
        "provider": {"id": "5f1c2a3b000040008000000000000009", "name": "Cloud Provider Ltd"},
        "category": "Virtual machines",
        "plans": [
            {"id": PLAN, "name": "Monthly", "unit": "month", "price": {"amount": "10.50", "currency": "EUR"},
             "component_prices": {"cpu": {"amount": "6.50", "currency": "EUR"}}},
            {"id": "5f1c2a3b000040008000000000000005", "name": "Free", "unit": "month", "price": None,
             "component_prices": {}},
        ],
        "components": [{"id": "cpu", "name": "CPU", "unit": "cores", "billing_type": "limit", "min": None, "max": 8}],
    }  # fmt: skip
    assert "url" not in orjson.dumps(parse_offering(CTX, 200, orjson.dumps(body))).decode()


def test_parse_offering_failures() -> None:
    with pytest.raises(OrderNotFoundError):
        parse_offering(CTX, 404, b'{"detail": "Not found."}')
    with pytest.raises(UpstreamBadResponseError):
        parse_offering(CTX, 200, b'{"name": "no uuid"}')
    with pytest.raises(UpstreamAuthError):
        parse_offering(CTX, 401, b"")
