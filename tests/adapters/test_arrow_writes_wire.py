"""Arrow's write side as pure functions: CreateOrder bodies, the marker, payloads, requests, answers."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from gateway.adapters.arrow.actions import (
    ARROW_ACTIONS,
    LIFECYCLE_ACTIONS,
    METADATA_WRITES,
    check_action,
    order_actions,
    validate_payload,
)
from gateway.adapters.arrow.drafts import MARKER_LABEL, carries_marker, check_create_answer, create_body
from gateway.adapters.arrow.wire import ArrowContext, parse_order
from gateway.adapters.arrow.wire_actions import (
    action_call,
    check_action_answer,
    classify_action_error,
    parse_added_attachment,
    parse_attachments,
    parse_history,
)
from gateway.adapters.base import GENERIC_ACTIONS, OrderDraft, Upload
from gateway.errors import (
    ActionNotAllowedError,
    OrderNotFoundError,
    UnsupportedActionError,
    UpstreamAuthError,
    UpstreamBadResponseError,
    ValidationFailedError,
)
from tests.adapters.arrow_samples import UPSTREAM, arrow_order, read_body

SKU = "SAAS||Microsoft||MS-0A-O365-BUSINESS||BD938F12"
DRAFT = OrderDraft(
    name=None,
    service=None,
    customer="XSP12345",
    items=({"sku": SKU, "quantity": 2},),
    parameters={},
    provider_options={},
    marker="ogw-7f3a",
)
PARIS = ArrowContext("arrow-fr", ZoneInfo("Europe/Paris"), UPSTREAM, None, "")


def errors_of(info: pytest.ExceptionInfo[ValidationFailedError]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = info.value.extensions["errors"]
    return errors


# --- create bodies ---------------------------------------------------------------------


def test_without_a_po_number_the_marker_is_the_po_number() -> None:
    assert create_body(DRAFT) == {
        "customer": {"reference": "XSP12345", "ponumber": "ogw-7f3a"},
        "products": [{"sku": SKU, "quantity": 2}],
    }


def test_a_named_order_is_named_by_its_po_number_and_keeps_the_marker_in_a_custom_field() -> None:
    body = create_body(replace(DRAFT, name="PO-778"))
    assert body["customer"] == {"reference": "XSP12345", "ponumber": "PO-778"}
    assert body["customFields"] == [{"label": MARKER_LABEL, "value": "ogw-7f3a"}]


def test_every_provider_option_reaches_its_create_key() -> None:
    options = {
        "ponumber": "PO-1",
        "endCustomerPONumber": "EC-1",
        "scenario": "provision",
        "scheduledDate": "2025-07-01",
        "organizationUnitRef": "XSPOU20",
        "customFields": [{"label": "Cost centre", "value": "CC-104"}],
        "extraInformation": {"programs": {"Microsoft": {"domainName": "contoso.onmicrosoft.com"}}},
    }
    items = (
        {"arrowSpherePriceBandSku": "BAND-1", "quantity": 3, "friendlyName": "Seats", "autoRenew": True},
    )
    body = create_body(replace(DRAFT, items=items, provider_options=options))
    assert body == {
        "customer": {"reference": "XSP12345", "ponumber": "PO-1", "endCustomerPONumber": "EC-1"},
        "products": [
            {"arrowSpherePriceBandSku": "BAND-1", "quantity": 3, "friendlyName": "Seats", "autoRenew": True}
        ],
        "scenario": "provision",
        "scheduledDate": "2025-07-01",
        "organizationUnitRef": "XSPOU20",
        "extraInformation": options["extraInformation"],
        "customFields": [
            {"label": "Cost centre", "value": "CC-104"},
            {"label": MARKER_LABEL, "value": "ogw-7f3a"},
        ],
    }


def test_a_quote_needs_no_items() -> None:
    body = create_body(replace(DRAFT, items=(), provider_options={"quoteRef": "Q-1"}))
    assert body == {"customer": {"reference": "XSP12345", "ponumber": "ogw-7f3a"}, "quoteRef": "Q-1"}


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"customer": None}, ["body", "customer"]),
        ({"customer": "XSPO1001"}, ["body", "customer"]),
        ({"items": ()}, ["body", "items"]),
        ({"items": ({"quantity": 2},)}, ["body", "items", 0]),
        ({"items": ({"sku": SKU, "quantity": "2"},)}, ["body", "items", 0, "quantity"]),
        ({"items": ({"sku": SKU, "quantity": 0},)}, ["body", "items", 0, "quantity"]),
        ({"items": ({"sku": SKU, "quantity": 1, "qty": 1},)}, ["body", "items", 0, "qty"]),
        ({"service": "Microsoft"}, ["body", "service"]),
        ({"parameters": {"x": "1"}}, ["body", "parameters"]),
        ({"provider_options": {"poNumber": "PO-1"}}, ["body", "provider_options", "poNumber"]),
        ({"provider_options": {"scenario": "now"}}, ["body", "provider_options", "scenario"]),
        ({"provider_options": {"scheduledDate": "2025-7-1"}}, ["body", "provider_options", "scheduledDate"]),
        (
            {"provider_options": {"organizationUnitRef": "OU1"}},
            ["body", "provider_options", "organizationUnitRef"],
        ),
        (
            {"provider_options": {"customFields": [{"label": "x"}]}},
            ["body", "provider_options", "customFields", 0, "value"],
        ),
        ({"name": "PO-1", "provider_options": {"ponumber": "PO-2"}}, ["body", "name"]),
    ],
)
def test_an_invalid_draft_names_the_field(change: dict[str, Any], loc: list[Any]) -> None:
    with pytest.raises(ValidationFailedError) as info:
        create_body(replace(DRAFT, **change))
    assert loc in [error["loc"] for error in errors_of(info)]
    assert info.value.status == 422


def test_the_marker_is_found_as_po_number_or_custom_field_of_the_same_customer() -> None:
    by_po = parse_order(PARIS, 200, orjson.dumps(read_body(arrow_order(ponumber="ogw-7f3a"))))
    assert carries_marker(by_po, "ogw-7f3a", "XSP12345")
    assert not carries_marker(by_po, "ogw-7f3a", "XSP99")
    fields = [{"label": "Cost centre", "value": "ogw-7f3a"}, {"label": MARKER_LABEL, "value": "ogw-1"}]
    by_field = parse_order(PARIS, 200, orjson.dumps(read_body(arrow_order(customFields=fields))))
    assert carries_marker(by_field, "ogw-1", "XSP12345")
    assert not carries_marker(by_field, "ogw-7f3a", "XSP12345")  # another label


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"status": 400, "error": "Bad Request", "messages": ["customer.reference: secret"]}),
        (404, {"status": 404, "error": "Not Found", "messages": "secret"}),
        (200, {"status": 400, "error": "Bad Request", "messages": "secret"}),  # §3: the envelope's status
    ],
)
def test_a_refused_create_is_422_in_our_words(status: int, body: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailedError) as info:
        check_create_answer(status, orjson.dumps(body))
    assert "secret" not in repr(info.value.extensions) and "secret" not in info.value.detail


def test_other_create_answers_are_left_to_the_reader() -> None:
    check_create_answer(200, orjson.dumps({"status": 200, "data": {"reference": "XSPO1"}}))
    check_create_answer(401, b"")
    check_create_answer(503, b"<html>")


# --- actions and payloads --------------------------------------------------------------


def test_order_actions_are_the_listed_lifecycle_actions_and_the_metadata_writes() -> None:
    listed = {name: f"api/orders/XSPO1/{name}" for name in ("archive", "history", "cancel", "bogus")}
    assert order_actions(listed) == ("cancel", "archive", *METADATA_WRITES)
    assert order_actions(None) == METADATA_WRITES
    assert set(LIFECYCLE_ACTIONS + METADATA_WRITES) < ARROW_ACTIONS


@pytest.mark.parametrize("action", ["approve", "reject", "delete", "offering", "unlink", "metadata"])
def test_actions_arrow_lacks_are_unsupported(action: str) -> None:
    with pytest.raises(UnsupportedActionError) as info:
        check_action(action)
    assert info.value.status == 422


def test_every_generic_action_is_either_supported_or_explained() -> None:
    for action in GENERIC_ACTIONS:
        if action not in ARROW_ACTIONS:
            with pytest.raises(UnsupportedActionError):
                check_action(action)


@pytest.mark.parametrize(
    ("action", "payload", "loc"),
    [
        ("cancel", {"reason": "x"}, ["body", "reason"]),
        ("history", {"page": 2}, ["body", "page"]),
        ("contributor", {}, ["body", "contributor"]),
        ("contributor", {"contributor": []}, ["body", "contributor"]),
        (
            "contributor",
            {"contributor": [{"type": "boss", "staffId": 1}]},
            ["body", "contributor", 0, "type"],
        ),
        (
            "contributor",
            {"contributor": [{"type": "isr", "staffId": "1"}]},
            ["body", "contributor", 0, "staffId"],
        ),
        ("additionalInformation", {"data": [{"name": "a"}]}, ["body", "data", 0, "value"]),
        ("update_po", {}, ["body"]),
        ("update_po", {"PO_number": 7}, ["body", "PO_number"]),
        ("update_po", {"ponumber": "x"}, ["body", "ponumber"]),
        ("add_attachment", {"name": "a.txt"}, ["body"]),
        ("add_attachment", {"name": "a.txt", "content_base64": "***"}, ["body"]),
        ("add_attachment", {"content_base64": "aGk="}, ["body"]),
        ("add_attachment", {"name": "../a", "content_base64": "aGk="}, ["body", "name"]),
        ("add_attachment", {"attachment": {"filename": "a"}}, ["body", "attachment"]),
        ("delete_attachment", {}, ["body", "name"]),
        ("delete_attachment", {"name": "a/b"}, ["body", "name"]),
    ],
)
def test_an_invalid_payload_names_the_field(action: str, payload: dict[str, Any], loc: list[Any]) -> None:
    with pytest.raises(ValidationFailedError) as info:
        validate_payload(action, payload)
    assert loc in [error["loc"] for error in errors_of(info)]


def test_an_upload_is_sent_base64_under_its_file_name() -> None:
    payload = validate_payload(
        "add_attachment", {"attachment": Upload("quote.pdf", "application/pdf", b"%PDF")}
    )
    call = action_call("XSPO1001", "add_attachment", payload)
    assert (call.method, call.path) == ("POST", "orders/XSPO1001/attachment")
    assert orjson.loads(call.body or b"") == {
        "name": "quote.pdf",
        "fileEncoded": base64.b64encode(b"%PDF").decode(),
    }
    renamed = validate_payload("add_attachment", {"attachment": Upload("x", "t", b"1"), "name": "y.txt"})
    assert orjson.loads(action_call("XSPO1", "add_attachment", renamed).body or b"")["name"] == "y.txt"


@pytest.mark.parametrize(
    ("action", "payload", "method", "path", "body"),
    [
        ("cancel", {}, "PATCH", "orders/XSPO1001/cancel", None),
        ("rejectGraded", {}, "PATCH", "orders/XSPO1001/rejectGraded", None),
        ("update_po", {"PO_number": "PO-2"}, "PATCH", "orders/XSPO1001", {"PO_number": "PO-2"}),
        ("update_po", {"end_customer_PO_number": None}, "PATCH", "orders/XSPO1001", {"end_customer_PO_number": None}),
        (
            "contributor",
            {"contributor": [{"type": "isr", "staffId": None}]},
            "PATCH",
            "orders/XSPO1001/contributor",
            {"contributor": [{"type": "isr", "staffId": None}]},
        ),
        (
            "additionalInformation",
            {"data": [{"name": "n", "value": "v"}]},
            "PATCH",
            "orders/XSPO1001/additionalInformation",
            {"data": [{"name": "n", "value": "v"}]},
        ),
        ("add_attachment", {"name": "a b.txt", "content_base64": "aGk="}, "POST", "orders/XSPO1001/attachment",
         {"name": "a b.txt", "fileEncoded": "aGk="}),
        ("delete_attachment", {"name": "a b?.txt"}, "DELETE", "orders/XSPO1001/attachment/a%20b%3F.txt", None),
        ("history", {}, "GET", "orders/XSPO1001/history", None),
    ],
)  # fmt: skip
def test_each_action_is_its_arrow_request(
    action: str, payload: dict[str, Any], method: str, path: str, body: Any
) -> None:
    call = action_call("XSPO1001", action, validate_payload(action, payload))
    assert (call.method, call.path) == (method, path)
    assert (orjson.loads(call.body) if call.body is not None else None) == body


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ActionNotAllowedError),
        (409, ActionNotAllowedError),
        (422, ActionNotAllowedError),
        (404, OrderNotFoundError),
        (401, UpstreamAuthError),
        (403, UpstreamAuthError),
        (500, UpstreamBadResponseError),
    ],
)
def test_action_errors_follow_section_7(status: int, error: type[Exception]) -> None:
    body = orjson.dumps({"status": status, "error": "x", "messages": "internal words"})
    assert type(classify_action_error("arrow", status, body)) is error
    with pytest.raises(error) as info:
        check_action_answer("arrow", status, body)
    assert "internal words" not in str(info.value)
    with pytest.raises(error):  # the same status inside a 2xx envelope (§3)
        check_action_answer("arrow", 200, body)


def test_a_successful_write_body_is_not_needed() -> None:
    assert check_action_answer("arrow", 200, b"") is None
    assert check_action_answer("arrow", 200, b"not json") is None
    assert check_action_answer("arrow", 200, b'{"status": 200, "data": {"message": "ok"}}') == {
        "message": "ok"
    }


# --- read answers ----------------------------------------------------------------------


def test_history_is_utc_rfc3339_without_the_order_id() -> None:
    body = {
        "status": 200,
        "data": [
            {"orderId": "XSPO1", "action": "create", "description": "Order created", "user": "api",
             "dateAction": "2025-01-02 03:04:05"},
        ],
    }  # fmt: skip
    assert parse_history(PARIS, 200, orjson.dumps(body)) == [
        {"action": "create", "description": "Order created", "user": "api", "at": "2025-01-02T02:04:05Z"}
    ]
    with pytest.raises(UpstreamBadResponseError):
        parse_history(PARIS, 200, orjson.dumps({"status": 200, "data": {"history": []}}))


def test_attachments_leave_out_the_upstream_url_and_say_whether_more_follow() -> None:
    attachment = {
        "name": "quote.pdf",
        "url": "/api/orders/XSPO1/attachment/quote.pdf",
        "lastModified": "2025-01-02 03:04:05",
        "metadata": {"size": "1234"},
    }
    page = {
        "status": 200,
        "data": {"attachments": [attachment]},
        "pagination": {
            "per_page": 1,
            "current_page": 1,
            "total_page": 2,
            "total": 2,
            "next": None,
            "previous": None,
        },
    }
    rows, more = parse_attachments(PARIS, 200, orjson.dumps(page))
    assert rows == [{"name": "quote.pdf", "last_modified": "2025-01-02T02:04:05Z", "size": 1234}] and more
    added = parse_added_attachment(PARIS, 200, orjson.dumps({"status": 200, "data": attachment}))
    assert added == rows[0] and "/api/" not in repr(rows)
    with pytest.raises(OrderNotFoundError):
        parse_attachments(PARIS, 404, b"{}")
