"""IVCAP's write side as pure functions: create bodies of both dialects, the marker, payloads, answers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest

from gateway.adapters.base import GENERIC_ACTIONS, OrderDraft
from gateway.adapters.ivcap import wire_current, wire_legacy
from gateway.adapters.ivcap.actions import (
    CURRENT_ACTIONS,
    LEGACY_ACTIONS,
    AddMetadataPayload,
    check_action,
    validate_payload,
)
from gateway.adapters.ivcap.drafts import (
    CREATE_DIALECTS,
    current_body,
    current_find_params,
    legacy_body,
    legacy_find_params,
)
from gateway.adapters.ivcap.wire_actions import (
    aspect_create,
    aspect_list_params,
    legacy_metadata,
    legacy_products,
    parse_aspect_id,
    parse_aspects,
    parse_products,
    parse_service,
    product_params,
)
from gateway.adapters.ivcap.wire_common import IvcapContext
from gateway.errors import (
    NotFoundError,
    OrderNotFoundError,
    UnsupportedActionError,
    UpstreamAuthError,
    UpstreamBadResponseError,
    UpstreamError,
    ValidationFailedError,
)
from tests.adapters.ivcap_samples import (
    ACCOUNT,
    ARTIFACT,
    BASE,
    ORDER,
    ORIGIN,
    SERVICE,
    legacy_order,
    link,
    order_status,
)

CTX = IvcapContext("ivcap", ORIGIN, None, "", write_actions=("add_metadata",))
POLICY = "urn:ivcap:policy:3c1e0000-0000-4000-8000-000000000009"
ASPECT = "urn:ivcap:aspect:9a0b0000-0000-4000-8000-000000000005"
DRAFT = OrderDraft(
    name="Fire risk for Lot 2",
    service=SERVICE,
    customer=None,
    items=(),
    parameters={"region": "Upper Valley", "threshold": 10, "ratio": 0.5, "dry": True},
    provider_options={},
    marker="ogw-9",
)
LEGACY_DRAFT = replace(DRAFT, customer=ACCOUNT)


def locs(info: pytest.ExceptionInfo[ValidationFailedError]) -> list[list[Any]]:
    return [error["loc"] for error in info.value.extensions["errors"]]


# --- create bodies ---------------------------------------------------------------------


def test_the_current_body_is_order_request_t_with_the_marker_tag() -> None:
    body = current_body(
        replace(
            DRAFT,
            provider_options={
                "policy": POLICY.upper().replace("URN:IVCAP:POLICY", "urn:ivcap:policy"),
                "tags": ["demo"],
            },
        )
    )
    assert body == {
        "service": SERVICE,
        "name": "Fire risk for Lot 2",
        "parameters": [
            {"name": "region", "value": "Upper Valley"},
            {"name": "threshold", "value": "10"},
            {"name": "ratio", "value": "0.5"},
            {"name": "dry", "value": "true"},
        ],
        "policy": POLICY,
        "tags": ["demo", "ogw:ogw-9"],
    }
    assert "name" not in current_body(replace(DRAFT, name=None))


def test_the_legacy_body_names_service_and_account_and_keeps_the_marker_as_an_aspect() -> None:
    aspect = {"schema": "urn:example:schema:note.1", "aspect": {"note": "hi"}}
    body = legacy_body(
        replace(LEGACY_DRAFT, parameters={"region": "Lot 2"}, provider_options={"metadata": [aspect]})
    )
    marker = "urn:order-gateway:schema:marker:ogw-9"
    assert body == {
        "serviceID": SERVICE,
        "accountID": ACCOUNT,
        "name": "Fire risk for Lot 2",
        "parameters": [{"name": "region", "value": "Lot 2"}],
        "metadata": [aspect, {"schema": marker, "aspect": {"$schema": marker, "marker": "ogw-9"}}],
    }


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"service": None}, ["body", "service"]),
        ({"service": "urn:ivcap:order:3c1e0000-0000-4000-8000-000000000002"}, ["body", "service"]),
        ({"service": "fire-risk"}, ["body", "service"]),
        ({"customer": ACCOUNT}, ["body", "customer"]),
        ({"items": ({"id": "x"},)}, ["body", "items"]),
        ({"name": ""}, ["body", "name"]),
        ({"parameters": {"region": ["a", "b"]}}, ["body", "parameters", "region"]),
        ({"parameters": {"region": None}}, ["body", "parameters", "region"]),
        ({"parameters": {"ratio": float("nan")}}, ["body", "parameters", "ratio"]),
        ({"provider_options": {"policy": "open"}}, ["body", "provider_options", "policy"]),
        ({"provider_options": {"tags": "demo"}}, ["body", "provider_options", "tags"]),
        ({"provider_options": {"tags": [1]}}, ["body", "provider_options", "tags", 0]),
        ({"provider_options": {"account": ACCOUNT}}, ["body", "provider_options", "account"]),
    ],
)
def test_an_invalid_current_draft_names_the_field(change: dict[str, Any], loc: list[Any]) -> None:
    with pytest.raises(ValidationFailedError) as info:
        current_body(replace(DRAFT, **change))
    assert loc in locs(info)


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"customer": None}, ["body", "customer"]),
        ({"customer": SERVICE}, ["body", "customer"]),
        ({"provider_options": {"tags": ["x"]}}, ["body", "provider_options", "tags"]),
        (
            {"provider_options": {"metadata": [{"schema": "s"}]}},
            ["body", "provider_options", "metadata", 0, "aspect"],
        ),
    ],
)
def test_an_invalid_legacy_draft_names_the_field(change: dict[str, Any], loc: list[Any]) -> None:
    with pytest.raises(ValidationFailedError) as info:
        legacy_body(replace(LEGACY_DRAFT, **change))
    assert loc in locs(info)


def test_find_looks_at_the_newest_orders_of_the_service_and_name() -> None:
    assert current_find_params(replace(DRAFT, name="O'Brien's run")) == [
        ("limit", "20"),
        ("filter", f"service eq '{SERVICE}' and name eq 'O''Brien''s run'"),
        ("order-by", "ordered-at"),
        ("order-desc", "true"),
    ]
    assert legacy_find_params(replace(LEGACY_DRAFT, name=None)) == [
        ("limit", "20"),
        ("$filter", f"service_id eq '{SERVICE}' and account_id eq '{ACCOUNT}'"),
        ("$orderby", "ordered_at desc"),
    ]


def test_the_marker_is_read_back_from_tags_or_aspect_schemas() -> None:
    current = CREATE_DIALECTS["current"]
    order = wire_current.parse_order(CTX, 200, orjson.dumps(order_status(tags=["demo", "ogw:ogw-9"])))
    assert current.carries_marker(order, "ogw-9") and not current.carries_marker(order, "ogw-1")
    legacy = CREATE_DIALECTS["legacy"]
    metadata = [{"id": ASPECT, "schema": "urn:order-gateway:schema:marker:ogw-9"}]
    old = wire_legacy.parse_order(CTX, 200, orjson.dumps(legacy_order(metadata=metadata)))
    assert legacy.carries_marker(old, "ogw-9") and not legacy.carries_marker(old, "ogw-1")


@pytest.mark.parametrize(
    ("dialect", "status", "body", "loc"),
    [
        ("current", 404, {"id": SERVICE, "message": "service not found"}, ["body", "service"]),
        ("current", 422, {"name": "policy", "message": "bad"}, ["body", "provider_options", "policy"]),
        ("current", 422, {"name": "mystery", "message": "bad"}, ["body"]),
        ("current", 400, {"message": "Having problem"}, ["body"]),
        ("legacy", 404, {"message": "account not found"}, ["body"]),
        ("legacy", 400, {"message": "bad"}, ["body"]),
    ],
)
def test_a_refused_create_is_422_at_the_field_in_our_words(
    dialect: str, status: int, body: dict[str, Any], loc: list[Any]
) -> None:
    error = CREATE_DIALECTS[dialect].create_error("ivcap", status, orjson.dumps(body))
    assert isinstance(error, ValidationFailedError) and error.extensions["errors"][0]["loc"] == loc
    assert body["message"] not in repr(error.extensions) + error.detail


@pytest.mark.parametrize(
    ("status", "error"), [(401, UpstreamAuthError), (503, UpstreamBadResponseError), (501, UpstreamError)]
)
def test_other_create_failures_are_upstream_errors(status: int, error: type[Exception]) -> None:
    assert type(CREATE_DIALECTS["current"].create_error("ivcap", status, b"")) is error


# --- actions and payloads --------------------------------------------------------------


@pytest.mark.parametrize("action", [*sorted(GENERIC_ACTIONS - {"offering"}), "set_state_done"])
def test_actions_ivcap_lacks_are_unsupported(action: str) -> None:
    with pytest.raises(UnsupportedActionError):
        check_action(action, CURRENT_ACTIONS)


@pytest.mark.parametrize("action", ["add_metadata", "offering"])
def test_the_legacy_shape_lacks_the_aspect_and_service_endpoints(action: str) -> None:
    check_action(action, CURRENT_ACTIONS)
    with pytest.raises(UnsupportedActionError):
        check_action(action, LEGACY_ACTIONS)


@pytest.mark.parametrize(
    ("action", "payload", "loc"),
    [
        ("add_metadata", {"content": {}}, ["body", "schema"]),
        ("add_metadata", {"schema": "a schema", "content": {}}, ["body", "schema"]),
        ("add_metadata", {"schema": "urn:x:s.1"}, ["body", "content"]),
        ("add_metadata", {"schema": "urn:x:s.1", "content": [1]}, ["body", "content"]),
        ("add_metadata", {"schema": "urn:x:s.1", "content": {}, "policy": "p"}, ["body", "policy"]),
        ("add_metadata", {"schema": "urn:x:s.1", "content": {}, "entity": ORDER}, ["body", "entity"]),
        ("products", {"limit": 5}, ["body", "limit"]),
    ],
)
def test_an_invalid_payload_names_the_field(action: str, payload: dict[str, Any], loc: list[Any]) -> None:
    with pytest.raises(ValidationFailedError) as info:
        validate_payload(action, payload)
    assert loc in locs(info)


def test_an_aspect_is_posted_as_the_client_posts_it() -> None:
    payload = validate_payload(
        "add_metadata", {"schema": "urn:x:s.1", "content": {"ok": True}, "policy": POLICY}
    )
    assert isinstance(payload, AddMetadataPayload)
    params, body = aspect_create(ORDER, payload)
    assert params == [("entity", ORDER), ("schema", "urn:x:s.1"), ("policy", POLICY)]
    assert orjson.loads(body) == {"ok": True, "$schema": "urn:x:s.1", "$entity": ORDER}


def test_sub_lists_start_with_their_query_and_then_send_only_the_token() -> None:
    assert aspect_list_params(ORDER, None) == [
        ("entity", ORDER),
        ("include-content", "true"),
        ("limit", "50"),
    ]
    assert aspect_list_params(ORDER, "tok") == product_params("tok") == [("limit", "50"), ("page", "tok")]


# --- answers ---------------------------------------------------------------------------


def test_aspects_become_plain_rows_without_upstream_links() -> None:
    page = {
        "items": [
            {
                "id": ASPECT,
                "entity": ORDER,
                "schema": "urn:x:s.1",
                "content-type": "application/json",
                "valid-from": "2025-01-02T13:00:00+10:00",
                "content": {"note": "hi", "see": f"{BASE}artifacts/{ARTIFACT}", "links": [1]},
            },
            {"id": ASPECT, "entity": ORDER, "schema": "urn:x:t.1", "content-type": "text/plain",
             "valid-from": "2025-01-02T03:00:00Z"},
        ],
        "links": [link("next", f"{BASE}aspects?page=abc")],
        "at-time": "2025-01-02T03:04:05Z",
    }  # fmt: skip
    rows, token = parse_aspects(CTX, 200, orjson.dumps(page))
    assert token == "abc"
    assert rows == [
        {"id": ASPECT, "schema": "urn:x:s.1", "content_type": "application/json",
         "valid_from": "2025-01-02T03:00:00Z", "content": {"note": "hi"}},
        {"id": ASPECT, "schema": "urn:x:t.1", "content_type": "text/plain", "valid_from": "2025-01-02T03:00:00Z"},
    ]  # fmt: skip


def test_products_have_no_hrefs() -> None:
    page = order_status()["products"]
    rows, token = parse_products(CTX, 200, orjson.dumps(page))
    assert rows == [
        {
            "id": ARTIFACT,
            "name": "fire risk map",
            "status": "ready",
            "mime_type": "image/geo+tiff",
            "size": 1234963,
        }
    ]
    assert token is None and ORIGIN not in repr(rows)
    with pytest.raises(OrderNotFoundError):
        parse_products(CTX, 404, b'{"id": "x", "message": "m"}')


def test_the_service_is_shown_without_links() -> None:
    service = {
        "id": SERVICE,
        "name": "Fire risk assessment",
        "description": "Maps fire risk.",
        "status": "active",
        "account": ACCOUNT,
        "parameters": [{"name": "region", "type": "string", "description": "d", "help": f"{BASE}docs"}],
        "links": [link("self", f"{BASE}services/{SERVICE}")],
    }
    assert parse_service(CTX, 200, orjson.dumps(service)) == {
        "id": SERVICE,
        "name": "Fire risk assessment",
        "description": "Maps fire risk.",
        "status": "active",
        "account": ACCOUNT,
        "tags": [],
        "parameters": [{"name": "region", "type": "string", "description": "d"}],
    }
    with pytest.raises(NotFoundError):
        parse_service(CTX, 404, b'{"id": "x", "message": "m"}')
    with pytest.raises(UpstreamBadResponseError):
        parse_service(CTX, 200, orjson.dumps({"id": SERVICE}))


def test_an_aspect_id_or_a_refusal_in_our_words() -> None:
    assert parse_aspect_id(CTX, 200, orjson.dumps({"id": ASPECT})) == {"id": ASPECT}
    with pytest.raises(ValidationFailedError) as info:
        parse_aspect_id(CTX, 422, orjson.dumps({"name": "schema", "message": "upstream words"}))
    assert locs(info) == [["body", "schema"]] and "upstream words" not in repr(info.value.extensions)
    with pytest.raises(UpstreamAuthError):
        parse_aspect_id(CTX, 403, orjson.dumps({"message": "missing scope"}))


def test_the_legacy_read_embeds_products_and_aspect_schemas() -> None:
    content = orjson.dumps(legacy_order())
    assert legacy_products(CTX, 200, content) == [
        {
            "id": ARTIFACT,
            "name": "fire risk map",
            "status": "ready",
            "mime_type": "image/geo+tiff",
            "size": 1234963,
        }
    ]
    assert legacy_metadata(CTX, 200, content) == [
        {"id": ASPECT, "schema": "urn:x:s.1", "content_type": None, "valid_from": None}
    ]
