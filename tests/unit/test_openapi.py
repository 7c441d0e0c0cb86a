"""The OpenAPI document: valid 3.1, loadable by schemathesis, and in step with the code it describes."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from gateway.errors import (
    PROBLEM_BASE,
    AllUpstreamsFailedError,
    GatewayError,
    InvalidHeaderError,
    InvalidQueryError,
    OutcomeUncertainError,
    RateLimitedError,
    UpstreamBadResponseError,
    ValidationFailedError,
    all_error_classes,
)
from gateway.middleware import request_timeout
from gateway.models import CreateOrderBody, Order, OrderPage
from gateway.openapi import build_openapi
from gateway.openapi.catalogue import ROUTER_PROBLEMS, problem_types
from gateway.openapi.components import MAX_IDEMPOTENCY_KEY_LENGTH, SECONDS_PATTERN
from gateway.openapi.examples import CREATE_BODIES, ORDER, ORDER_PAGE
from gateway.openapi.operations import LIST_PARAMETERS, OPERATIONS
from gateway.problems import problem_body
from gateway.query import PARAMETERS
from gateway.routes import idempotent

DOCUMENT = build_openapi()


def validator(schema_name: str) -> Draft202012Validator:
    """A JSON Schema validator for one component schema, its ``$ref``s resolved in the document."""
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": DOCUMENT["components"]}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"].startswith("3.1.")
    validate(DOCUMENT, cls=OpenAPIV31SpecValidator)  # raises on the first error
    assert list(OpenAPIV31SpecValidator(DOCUMENT).iter_errors()) == []


def test_schemathesis_loads_the_document_and_yields_every_operation() -> None:
    schema = schemathesis.openapi.from_dict(DOCUMENT)
    loaded = {(result.ok().method.upper(), result.ok().path) for result in schema.get_all_operations()}
    assert loaded == {(op.method.upper(), op.path) for op in OPERATIONS}
    assert len(loaded) == len(OPERATIONS)


def test_list_orders_documents_exactly_the_parameters_the_parser_takes() -> None:
    assert frozenset(LIST_PARAMETERS) == PARAMETERS
    documented = {
        DOCUMENT["components"]["parameters"][ref["$ref"].rsplit("/", 1)[1]]["name"]
        for ref in DOCUMENT["paths"]["/orders"]["get"]["parameters"]
    }
    assert documented >= PARAMETERS


def parameter(path: str, name: str) -> dict[str, Any]:
    """The parameter ``name`` of ``GET path``, its ``$ref`` resolved."""
    for ref in DOCUMENT["paths"][path]["get"]["parameters"]:
        found = DOCUMENT["components"]["parameters"][ref["$ref"].rsplit("/", 1)[1]]
        if found["name"] == name:
            return dict(found)
    raise AssertionError(f"{path} documents no {name}")


def test_what_the_document_calls_valid_is_what_the_gateway_takes() -> None:
    # The export refuses require=any (400): it documents only `all`.
    assert parameter("/orders", "require")["schema"]["enum"] == ["any", "all"]
    assert parameter("/orders/export", "require")["schema"]["enum"] == ["all"]
    # Any X-Request-ID is taken (an unsafe one is replaced, not refused): no pattern to break.
    assert "pattern" not in parameter("/orders", "X-Request-ID")["schema"]


def test_every_problem_type_of_the_error_tree_is_listed_with_its_status() -> None:
    enum = DOCUMENT["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
    assert set(enum) == {PROBLEM_BASE + cls.type for cls in all_error_classes()}
    types = problem_types()
    for cls in all_error_classes():
        assert cls.status in types[cls.type].statuses, cls
    assert (
        AllUpstreamsFailedError("x", all_timed_out=True).status_code in types["all-upstreams-failed"].statuses
    )


def test_every_problem_type_is_answered_somewhere_and_operations_name_only_real_ones() -> None:
    types = problem_types()
    used = {slug for op in OPERATIONS for slug in op.problems}
    assert used <= types.keys()
    assert types.keys() - used <= set(ROUTER_PROBLEMS)  # the router answers these anywhere


def test_each_problem_status_is_a_documented_response_with_its_example() -> None:
    types = problem_types()
    for op in OPERATIONS:
        responses = DOCUMENT["paths"][op.path][op.method]["responses"]
        for slug in op.problems:
            for status in types[slug].statuses:
                media = responses[str(status)]["content"]["application/problem+json"]
                assert slug in media["examples"], (op.operation_id, slug)


@pytest.mark.parametrize(
    "name", sorted(n for n in DOCUMENT["components"]["examples"] if n.startswith("problem-"))
)
def test_problem_examples_conform_to_the_problem_schema(name: str) -> None:
    validator("Problem").validate(DOCUMENT["components"]["examples"][name]["value"])


@pytest.mark.parametrize(
    "error",
    [
        GatewayError(),
        InvalidQueryError("'limit' must be an integer from 1 to 200.", parameter="limit"),
        InvalidHeaderError("Request-Timeout must be a positive number.", header="Request-Timeout"),
        ValidationFailedError("Bad.", errors=[{"loc": ["body", "items", 0, "quantity"], "msg": "too small"}]),
        UpstreamBadResponseError("Bad answer.", provider="waldur-eu", upstream_status=503),
        OutcomeUncertainError("Maybe created.", provider="waldur-eu"),
        AllUpstreamsFailedError("All down.", all_timed_out=True),
        RateLimitedError("Slow down.", retry_after=3),
    ],
    ids=lambda error: type(error).__name__,
)
def test_problems_as_rendered_conform_to_the_problem_schema(error: GatewayError) -> None:
    validator("Problem").validate(problem_body(error, "req-1"))


@pytest.mark.parametrize(
    ("schema", "value", "model"),
    [
        ("Order", ORDER, Order),
        ("OrderPage", ORDER_PAGE, OrderPage),
        *(("CreateOrderBody", body, CreateOrderBody) for _, body in CREATE_BODIES.values()),
    ],
    ids=["order", "order-page", *CREATE_BODIES],
)
def test_examples_are_what_the_models_accept_and_write(
    schema: str, value: dict[str, Any], model: Any
) -> None:
    parsed = model.model_validate(value)
    validator(schema).validate(value)
    validator(schema).validate(parsed.model_dump(mode="json"))  # the model's own output, too


def test_timestamps_are_documented_as_date_times() -> None:
    properties = DOCUMENT["components"]["schemas"]["Order"]["properties"]
    assert properties["created_at"] == {"format": "date-time", "title": "Created At", "type": "string"}
    assert {"format": "date-time", "type": "string"} in properties["completed_at"]["anyOf"]


def test_every_field_of_a_serialized_model_is_required() -> None:
    report = DOCUMENT["components"]["schemas"]["ProviderReport"]
    assert set(report["required"]) == set(report["properties"])
    assert "cache" not in DOCUMENT["components"]["schemas"]["OrderPage"]["properties"]  # excluded from JSON


def test_header_rules_match_the_code_that_applies_them() -> None:
    assert request_timeout._SECONDS.pattern == SECONDS_PATTERN
    assert MAX_IDEMPOTENCY_KEY_LENGTH == idempotent.MAX_KEY_LENGTH


def test_keyed_operations_name_their_scope_and_open_ones_need_no_key() -> None:
    for op in OPERATIONS:
        operation = DOCUMENT["paths"][op.path][op.method]
        if op.scope is None:
            assert operation["security"] == []
        else:
            assert operation["security"] == [{"bearerAuth": [op.scope]}, {"apiKeyAuth": [op.scope]}]
            assert "Scope: `" in operation["description"]


def test_every_write_takes_an_idempotency_key() -> None:
    for op in OPERATIONS:
        if op.method in ("post", "delete"):
            assert "Idempotency-Key" in op.parameters, op.operation_id


def test_the_document_is_the_same_every_time_it_is_built() -> None:
    assert build_openapi() == DOCUMENT
