"""Creating a Waldur order as pure functions: the draft checked and mapped, the answer read (§4).

A draft maps to an ``OrderCreateRequest``: ``service`` is the offering uuid and ``customer``
the project uuid, both sent as hyperlinks under the instance's ``base_url`` (views
``marketplace-public-offering-detail`` and ``project-detail``); ``provider_options.plan`` is a
plan uuid sent as ``marketplace-public-offerings/<offering>/plans/<plan>/`` (the view
``marketplace-public-offering-plan-detail`` the server's ``PublicPlanField`` resolves);
``items`` become ``limits``; ``parameters`` (and ``name`` as ``attributes.name``) become
``attributes``; the marker goes into ``slug``, which the list's ``query`` searches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from gateway.adapters.base import OrderDraft
from gateway.adapters.waldur.wire import WaldurContext, classify_error, normalise_native_id, parse_order
from gateway.errors import GatewayError, ValidationFailedError
from gateway.models import Order

REFUSED = "The provider refused the order."
INVALID = "The order is not valid for this provider."


def _waldur_uuid(value: str) -> str:
    normalised = normalise_native_id(value)
    if normalised is None:
        raise PydanticCustomError("uuid", "Input should be a uuid (32 hex digits, dashes allowed)")
    return normalised


WaldurUuid = Annotated[StrictStr, AfterValidator(_waldur_uuid)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WaldurCreateOptions(_Strict):
    """``provider_options`` of a Waldur create."""

    plan: WaldurUuid | None = None
    start_date: date | None = None
    request_comment: StrictStr | None = Field(default=None, max_length=10_000)
    callback_url: AnyHttpUrl | None = None
    accepting_terms_of_service: StrictBool | None = None


class WaldurLimit(_Strict):
    """One item: a limit-billed component of the offering and its amount."""

    id: StrictStr = Field(min_length=1, max_length=255)
    quantity: StrictInt = Field(ge=0)


class WaldurDraft(_Strict):
    """The parts of an OrderDraft a Waldur create needs, checked."""

    name: StrictStr | None = Field(default=None, min_length=1, max_length=150)
    service: WaldurUuid
    customer: WaldurUuid
    items: tuple[WaldurLimit, ...] = ()
    parameters: dict[str, Any] = {}
    provider_options: WaldurCreateOptions = WaldurCreateOptions()


def validate_draft(draft: OrderDraft) -> WaldurDraft:
    """The draft checked for Waldur, or ValidationFailedError with ``["body", ...]`` paths."""
    raw: dict[str, Any] = {
        "items": [dict(item) for item in draft.items],
        "parameters": dict(draft.parameters),
        "provider_options": dict(draft.provider_options),
    }
    for name in ("name", "service", "customer"):
        value = getattr(draft, name)
        if value is not None:  # absent rather than null, so a missing one reads "Field required"
            raw[name] = value
    try:
        checked = WaldurDraft.model_validate(raw)
    except ValidationError as exc:
        errors = [
            {"loc": ["body", *error["loc"]], "msg": error["msg"]}
            for error in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise ValidationFailedError(INVALID, errors=errors) from exc
    errors = _inconsistencies(checked)
    if errors:
        raise ValidationFailedError(INVALID, errors=errors)
    return checked


def _inconsistencies(checked: WaldurDraft) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(checked.items):
        if item.id in seen:
            errors.append({"loc": ["body", "items", index, "id"], "msg": "Each component may appear once"})
        seen.add(item.id)
    named = checked.parameters.get("name")
    if checked.name is not None and named is not None and named != checked.name:
        errors.append({"loc": ["body", "parameters", "name"], "msg": "Differs from name; give one of them"})
    return errors


def create_body(draft: OrderDraft, base_url: str) -> dict[str, Any]:
    """The ``POST marketplace-orders/`` body for ``draft``; ``base_url`` ends with ``/api/``."""
    checked = validate_draft(draft)
    options = checked.provider_options
    offering = f"{base_url}marketplace-public-offerings/{checked.service}/"
    attributes = dict(checked.parameters)
    if checked.name is not None:
        attributes["name"] = checked.name
    # The 2024-10 server reads attributes.name unconditionally: always send the object.
    body: dict[str, Any] = {
        "offering": offering,
        "project": f"{base_url}projects/{checked.customer}/",
        "attributes": attributes,
        "slug": draft.marker,
    }
    if options.plan is not None:
        body["plan"] = f"{offering}plans/{options.plan}/"
    if checked.items:
        body["limits"] = {item.id: item.quantity for item in checked.items}
    if options.start_date is not None:
        body["start_date"] = options.start_date.isoformat()
    if options.request_comment is not None:
        body["request_comment"] = options.request_comment
    if options.callback_url is not None:
        body["callback_url"] = str(options.callback_url)
    if options.accepting_terms_of_service is not None:
        body["accepting_terms_of_service"] = options.accepting_terms_of_service
    return body


def find_params(draft: OrderDraft) -> list[tuple[str, str]]:
    """List parameters that find the order a create of ``draft`` made: ``query`` (it covers
    ``slug``) narrowed to the draft's offering and project."""
    checked = validate_draft(draft)
    return [
        ("query", draft.marker),
        ("offering_uuid", checked.service),
        ("project_uuid", checked.customer),
        ("o", "-created"),
        ("page_size", "100"),
    ]


def pick_created(orders: Sequence[Order], marker: str) -> Order | None:
    """The order whose ``slug`` is exactly the marker (``query`` also matches substrings)."""
    for order in orders:
        if order.extra.get("slug") == marker:
            return order
    return None


def parse_created(ctx: WaldurContext, status: int, content: bytes) -> Order:
    """The create answer (201, §4) as the new Order, or the GatewayError it stands for."""
    if status == 400:
        raise create_refusal(content)
    if status not in (200, 201):
        raise classify_error(ctx.instance, status, content)
    return parse_order(ctx, 200, content)


# Upstream create field → where the caller put it. Anything else is about the whole body.
FIELD_LOCS: dict[str, tuple[str, ...]] = {
    "offering": ("service",),
    "project": ("customer",),
    "plan": ("provider_options", "plan"),
    "limits": ("items",),
    "attributes": ("parameters",),
    "start_date": ("provider_options", "start_date"),
    "request_comment": ("provider_options", "request_comment"),
    "callback_url": ("provider_options", "callback_url"),
    "accepting_terms_of_service": ("provider_options", "accepting_terms_of_service"),
}
# Our words for what Waldur said (matched on the start of its message, never echoed).
MESSAGES: tuple[tuple[str, str], ...] = (
    ("Invalid hyperlink - Object does not exist", "Not found at the provider"),
    ("Invalid hyperlink", "Not a reference the provider accepts"),
    ("This plan is not available for selected offering", "The plan is not one of this service's plans"),
    ("Plan is not available", "The plan is not available"),
    ("Invalid types", "Not a component this service can limit"),
    ("Terms of service", "The service's terms of service must be accepted"),
    ("This field is required", "Field required"),
)


def create_refusal(content: bytes) -> GatewayError:
    """A create's 400 as a ValidationFailedError: a field map gives one error per field at the
    caller's path, a list (a business refusal) one error about the whole body (§4, §7)."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        body = None
    errors: list[dict[str, Any]] = []
    if isinstance(body, Mapping):
        for field, problems in body.items():
            loc = FIELD_LOCS.get(str(field), ())
            errors.append({"loc": ["body", *loc], "msg": _our_message(problems, bool(loc))})
    if not errors:
        errors.append({"loc": ["body"], "msg": _our_message(body, False)})
    return ValidationFailedError(REFUSED, errors=errors)


def _our_message(problems: Any, about_field: bool) -> str:
    texts = _texts(problems)
    for prefix, ours in MESSAGES:
        if any(text.startswith(prefix) for text in texts):
            return ours
    return "The provider refused this value" if about_field else REFUSED.rstrip(".")


def _texts(problems: Any) -> list[str]:
    if isinstance(problems, str):
        return [problems]
    if isinstance(problems, list):
        return [text for item in problems for text in _texts(item)]
    if isinstance(problems, Mapping):
        return [text for item in problems.values() for text in _texts(item)]
    return []
