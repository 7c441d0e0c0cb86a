"""The document's JSON Schemas: pydantic's own for the models, and TypedDicts for dict answers.

The models (``Order``, ``OrderPage``, ``CreateOrderBody``, the Waldur approve/reject payloads)
are the ones the code validates and serializes with. A few answers are built as plain dicts
by their routes (``/providers``, ``/readyz`` ...): their shape is a TypedDict here, and the
API tests check real answers against it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, with_config
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import core_schema
from typing_extensions import TypedDict

from gateway.adapters.waldur.actions import ApprovePayload, RejectPayload
from gateway.models import CreateOrderBody, Health, Order, OrderPage, ProviderKind, Status
from gateway.openapi.catalogue import catalogue_markdown, problem_types

REF_TEMPLATE = "#/components/schemas/{model}"
CLOSED = ConfigDict(extra="forbid")


class FieldError(TypedDict):
    """One thing wrong with the request: where (``query``/``body`` first) and what."""

    loc: list[str | int]
    msg: str


class Problem(TypedDict):
    """An error answer, ``application/problem+json`` (RFC 9457). Every ``type``:"""

    type: Annotated[str, Field(description="A URI under https://errors.order-gateway.dev/.")]
    title: str
    status: int
    detail: Annotated[str, Field(description="Text the gateway wrote; never an upstream's own words.")]
    instance: Annotated[str, Field(description="The request id, as in `X-Request-ID`.")]
    trace_id: NotRequired[
        Annotated[str, Field(description="The request's trace, to find its spans and logs.")]
    ]
    errors: NotRequired[Annotated[list[FieldError], Field(description="Each wrong field (400, 422).")]]
    provider: NotRequired[Annotated[str, Field(description="The instance that failed (upstream problems).")]]
    upstream_status: NotRequired[Annotated[int, Field(description="The upstream's HTTP status.")]]
    header: NotRequired[Annotated[str, Field(description="The request header at fault (`invalid-header`).")]]
    outcome: NotRequired[
        Annotated[
            Literal["uncertain"],
            Field(
                description="A create that timed out may have happened: retry with the same Idempotency-Key."
            ),
        ]
    ]


@with_config(CLOSED)
class StatusVocabulary(TypedDict):
    """One upstream vocabulary: the states behind each normalised status, and the fallback for
    a state the gateway does not know."""

    mapping: dict[Status, list[str]]
    fallback: Status


@with_config(CLOSED)
class StatusCatalogue(TypedDict):
    """The normalised statuses, and per upstream vocabulary the states that map to each."""

    statuses: list[Status]
    vocabularies: dict[str, StatusVocabulary]


@with_config(CLOSED)
class ProviderCapabilities(TypedDict):
    """What the instance does itself; the gateway does the rest (filters, sorts)."""

    filters: list[str]
    sorts: list[str]
    max_page_size: int
    can_create: bool
    can_delete: bool


@with_config(CLOSED)
class ProviderInfo(TypedDict):
    """One instance the key may use."""

    name: str
    kind: ProviderKind
    health: Health
    capabilities: ProviderCapabilities
    actions: Annotated[
        list[str], Field(description="Names usable at `POST /orders/{order_id}/actions/{name}`.")
    ]


@with_config(CLOSED)
class ProviderList(TypedDict):
    """The instances this key may use."""

    data: list[ProviderInfo]


@with_config(CLOSED)
class Liveness(TypedDict):
    """The process answers."""

    status: Literal["ok"]


@with_config(CLOSED)
class UpstreamCounts(TypedDict):
    ok: int
    error: int


@with_config(CLOSED)
class InstanceReadiness(TypedDict):
    """One instance as its last probe saw it."""

    status: Literal["ok", "error"]
    error: NotRequired[str]
    circuit: NotRequired[Literal["closed", "open", "half-open"]]


CircuitCounts = TypedDict("CircuitCounts", {"open": int, "half-open": int})
with_config(CLOSED)(CircuitCounts)  # "half-open" is no identifier: the functional form


@with_config(CLOSED)
class Readiness(TypedDict):
    """Ready while at least one upstream answers. Instances appear by their configured names,
    never their addresses."""

    status: Literal["ready", "not-ready"]
    upstreams: UpstreamCounts
    instances: dict[str, InstanceReadiness]
    circuits: CircuitCounts
    shared_store: Annotated[
        Literal["none", "ok", "degraded"], Field(description="Redis: not configured, answering, or not.")
    ]


@with_config(CLOSED)
class ActionResult(TypedDict):
    """A look-up's answer (offering, history, attachments, metadata ...): the sub-resource as
    the instance's kind shapes it, plus the fresh order when the action also changed it."""

    data: Any
    order: NotRequired[Order]


# Answers are described as serialized, request bodies as validated.
ANSWERS: tuple[Any, ...] = (
    Order,
    OrderPage,
    Problem,
    StatusCatalogue,
    ProviderList,
    Liveness,
    Readiness,
    ActionResult,
)
BODIES: tuple[Any, ...] = (CreateOrderBody, ApprovePayload, RejectPayload)
BODY_DESCRIPTIONS = {
    "ApprovePayload": "Waldur: approve as the consumer (default) or the provider; only a provider "
    "approval may merge `attributes` into the order's.",
    "RejectPayload": "Waldur: reject as the consumer (default) or the provider, with a comment.",
}


class SchemaGenerator(GenerateJsonSchema):
    """pydantic's generator, told two things its defaults miss about our models."""

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        # Serialized models write every field (none is dropped when None or default), so an
        # answer always has them all; TypedDicts say what is optional themselves.
        if self.mode == "serialization" and field["type"] != "typed-dict-field":
            return not field.get("serialization_exclude", False)
        return super().field_is_required(field, total)


def component_schemas() -> dict[str, JsonSchemaValue]:
    """``components.schemas``: every schema the operations refer to, and those they refer to."""
    inputs: list[tuple[Any, JsonSchemaMode, TypeAdapter[Any]]] = [
        *((kind, "serialization", TypeAdapter(kind)) for kind in ANSWERS),
        *((kind, "validation", TypeAdapter(kind)) for kind in BODIES),
    ]
    _, top = TypeAdapter.json_schemas(
        inputs, by_alias=True, ref_template=REF_TEMPLATE, schema_generator=SchemaGenerator
    )
    schemas: dict[str, JsonSchemaValue] = top["$defs"]
    types = problem_types()
    problem = schemas["Problem"]
    problem["description"] += "\n\n" + catalogue_markdown(types)
    problem["properties"]["type"]["enum"] = [p.uri for p in types.values()]
    for name, text in BODY_DESCRIPTIONS.items():
        schemas[name]["description"] = text
    return dict(sorted(schemas.items()))
