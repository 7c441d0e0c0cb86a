"""IVCAP create bodies from an OrderDraft (ivcap.md §3 ``OrderRequestT``, §9 legacy), the marker
that finds an order again, and what a refused create means.

Each dialect validates the draft before any call (ValidationFailedError, paths under
``body``). Where the marker goes (docs/decisions.md, "IVCAP writes"): the current API keeps
it as the tag ``ogw:<marker>``; the legacy shape has no tags, so it becomes an aspect
created with the order whose schema ends in the marker (a read lists aspect schemas).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, ValidationError

from gateway.adapters.base import OrderDraft
from gateway.adapters.ivcap.actions import urn_of
from gateway.adapters.ivcap.wire_common import classify_error, filter_literal
from gateway.errors import GatewayError, ValidationFailedError
from gateway.models import Order

MARKER_TAG_PREFIX = "ogw:"
LEGACY_MARKER_SCHEMA_PREFIX = "urn:order-gateway:schema:marker:"
# `find_created` reads at most this many of the newest orders of the draft's service (and name).
FIND_LIMIT = 20

Text = Annotated[StrictStr, Field(min_length=1)]


def _parameter_text(value: Any) -> str:
    """§3: parameter values are strings; numbers and booleans are sent as their JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return orjson.dumps(value).decode()
    raise ValueError("a parameter value is a string, a number or a boolean")


def _required(what: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is None:
            raise ValueError(f"an IVCAP order needs {what}")
        return value

    return check


def _absent(why: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is not None and value != []:
            raise ValueError(why)
        return value

    return check


ParameterValue = Annotated[Any, AfterValidator(_parameter_text)]
ServiceUrn = Annotated[
    Annotated[StrictStr, AfterValidator(urn_of("service"))] | None,
    AfterValidator(_required("its service (urn:ivcap:service:<uuid>)")),
]
NoItems = Annotated[list[Any], AfterValidator(_absent("IVCAP orders have no items; use parameters"))]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)


class CurrentOptions(_Body):
    """``provider_options`` of a create in the current API: ``OrderRequestT``'s optional keys."""

    policy: Annotated[StrictStr, AfterValidator(urn_of("policy"))] | None = None
    tags: list[Text] | None = None


class CurrentDraft(_Body):
    name: Text | None
    service: ServiceUrn
    customer: Annotated[object, AfterValidator(_absent("IVCAP orders belong to the gateway's account"))]
    items: NoItems
    parameters: dict[str, ParameterValue]
    provider_options: CurrentOptions


class LegacyAspect(_Body):
    schema_: Text = Field(alias="schema")
    aspect: dict[str, Any]


class LegacyOptions(_Body):
    """``provider_options`` of a legacy create: aspects to attach (``metadata[]``, §9)."""

    metadata: list[LegacyAspect] | None = None


class LegacyDraft(_Body):
    name: Text | None
    service: ServiceUrn
    customer: Annotated[
        Annotated[StrictStr, AfterValidator(urn_of("account"))] | None,
        AfterValidator(_required("the account to bill (urn:ivcap:account:<uuid>)")),
    ]
    items: NoItems
    parameters: dict[str, ParameterValue]
    provider_options: LegacyOptions


def _validate(model: type[_Body], draft: OrderDraft) -> Any:
    try:
        return model.model_validate(
            {
                "name": draft.name,
                "service": draft.service,
                "customer": draft.customer,
                "items": [dict(item) for item in draft.items],
                "parameters": dict(draft.parameters),
                "provider_options": dict(draft.provider_options),
            }
        )
    except ValidationError as exc:
        raise ValidationFailedError.from_pydantic(
            exc, "The order cannot be placed at IVCAP as given."
        ) from exc


def _parameters(parameters: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in parameters.items()]


def current_body(draft: OrderDraft) -> dict[str, Any]:
    """``OrderRequestT`` (§3) for ``draft``, its marker among the tags."""
    valid: CurrentDraft = _validate(CurrentDraft, draft)
    body: dict[str, Any] = {"service": valid.service, "parameters": _parameters(valid.parameters)}
    if valid.name is not None:
        body["name"] = valid.name
    if valid.provider_options.policy is not None:
        body["policy"] = valid.provider_options.policy
    body["tags"] = [*(valid.provider_options.tags or ()), MARKER_TAG_PREFIX + draft.marker]
    return body


def legacy_body(draft: OrderDraft) -> dict[str, Any]:
    """The legacy create body (§9), its marker as an aspect created with the order."""
    valid: LegacyDraft = _validate(LegacyDraft, draft)
    schema = LEGACY_MARKER_SCHEMA_PREFIX + draft.marker
    metadata = [m.model_dump(by_alias=True) for m in valid.provider_options.metadata or ()]
    metadata.append({"schema": schema, "aspect": {"$schema": schema, "marker": draft.marker}})
    body: dict[str, Any] = {
        "serviceID": valid.service,
        "accountID": valid.customer,
        "parameters": _parameters(valid.parameters),
        "metadata": metadata,
    }
    if valid.name is not None:
        body["name"] = valid.name
    return body


def current_find_params(draft: OrderDraft) -> list[tuple[str, str]]:
    """The newest orders of the draft's service (and name), where its create would be."""
    valid: CurrentDraft = _validate(CurrentDraft, draft)
    clauses = [f"service eq {filter_literal(valid.service or '')}"]
    if valid.name is not None:
        clauses.append(f"name eq {filter_literal(valid.name)}")
    return [
        ("limit", str(FIND_LIMIT)),
        ("filter", " and ".join(clauses)),
        ("order-by", "ordered-at"),
        ("order-desc", "true"),
    ]


def legacy_find_params(draft: OrderDraft) -> list[tuple[str, str]]:
    valid: LegacyDraft = _validate(LegacyDraft, draft)
    clauses = [
        f"service_id eq {filter_literal(valid.service or '')}",
        f"account_id eq {filter_literal(valid.customer or '')}",
    ]
    if valid.name is not None:
        clauses.append(f"name eq {filter_literal(valid.name)}")
    return [("limit", str(FIND_LIMIT)), ("$filter", " and ".join(clauses)), ("$orderby", "ordered_at desc")]


def current_carries_marker(order: Order, marker: str) -> bool:
    tags = order.extra.get("tags")
    return isinstance(tags, list) and MARKER_TAG_PREFIX + marker in tags


def legacy_carries_marker(order: Order, marker: str) -> bool:
    metadata = order.extra.get("metadata")
    schema = LEGACY_MARKER_SCHEMA_PREFIX + marker
    return isinstance(metadata, list) and any(
        isinstance(m, dict) and m.get("schema") == schema for m in metadata
    )


def _refused(loc: list[str | int], msg: str) -> ValidationFailedError:
    return ValidationFailedError("The provider refused the order.", errors=[{"loc": loc, "msg": msg}])


# 422 `InvalidParameterT.name` (§7) → where that is in our body. The name only picks a path;
# the upstream's message is never repeated.
_PARAMETER_LOCS: dict[str, list[str | int]] = {
    "service": ["body", "service"],
    "policy": ["body", "provider_options", "policy"],
    "name": ["body", "name"],
    "tags": ["body", "provider_options", "tags"],
    "parameters": ["body", "parameters"],
}


def current_create_error(instance: str, status: int, content: bytes) -> GatewayError:
    """§4/§7 errors of ``POST /1/orders``: 404 is the service, 400/422 the body."""
    if status == 404:
        return _refused(["body", "service"], "the provider has no such service")
    if status == 422:
        try:
            name = orjson.loads(content).get("name")
        except (orjson.JSONDecodeError, AttributeError):
            name = None
        loc: list[str | int] = _PARAMETER_LOCS.get(name, ["body"]) if isinstance(name, str) else ["body"]
        return _refused(loc, "refused by the provider")
    if status == 400:
        return _refused(["body"], "refused by the provider")
    return classify_error(instance, status, content)


def legacy_create_error(instance: str, status: int, content: bytes) -> GatewayError:
    """The legacy API says 404 for an unknown service or account, 400 for a bad body."""
    if status == 404:
        return _refused(["body"], "the provider has no such service or account")
    if status in (400, 422):
        return _refused(["body"], "refused by the provider")
    return classify_error(instance, status, content)


@dataclass(frozen=True, slots=True)
class CreateDialect:
    """One dialect's create: body, where to look for an uncertain create, marker, errors."""

    create_body: Callable[[OrderDraft], dict[str, Any]]
    find_params: Callable[[OrderDraft], list[tuple[str, str]]]
    carries_marker: Callable[[Order, str], bool]
    create_error: Callable[[str, int, bytes], GatewayError]


CREATE_DIALECTS = {
    "current": CreateDialect(current_body, current_find_params, current_carries_marker, current_create_error),
    "legacy": CreateDialect(legacy_body, legacy_find_params, legacy_carries_marker, legacy_create_error),
}
