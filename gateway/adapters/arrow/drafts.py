"""Arrow's CreateOrder body (arrow.md §6) from an OrderDraft, and the marker that finds the order again.

The draft is validated before any call: ValidationFailedError, paths under ``body``.
Where the marker goes (docs/decisions.md, "Arrow writes"): it is the PO number when the
caller gave none (neither ``provider_options.ponumber`` nor ``name``), else a custom field
labelled `MARKER_LABEL`.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from gateway.adapters.arrow.actions import CustomField
from gateway.adapters.base import OrderDraft
from gateway.errors import ValidationFailedError
from gateway.models import Order

MARKER_LABEL = "order-gateway-marker"
_CUSTOMER = re.compile(r"^XSP[0-9]{1,18}$")  # §2
_ORGANIZATION_UNIT = re.compile(r"^XSPOU[0-9]{1,18}$")  # §2


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _customer(value: str | None) -> str | None:
    if value is None:
        raise ValueError("an Arrow order needs its customer's reference (XSP followed by digits)")
    if _CUSTOMER.match(value) is None:
        raise ValueError("not an Arrow customer reference (XSP followed by digits)")
    return value


def _no_service(value: object) -> object:
    if value is not None:
        raise ValueError("Arrow orders have no service: their products name the program")
    return value


def _no_parameters(value: dict[str, Any]) -> dict[str, Any]:
    if value:
        raise ValueError("Arrow orders take no parameters; use items and provider_options")
    return value


def _day(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError("a date as YYYY-MM-DD") from None
    if len(value) != 10:
        raise ValueError("a date as YYYY-MM-DD")
    return value


def _organization_unit(value: str) -> str:
    if _ORGANIZATION_UNIT.match(value) is None:
        raise ValueError("not an Arrow organisation unit reference (XSPOU followed by digits)")
    return value


Text = Annotated[StrictStr, Field(min_length=1)]


class _Reference(_Body):
    reference: Text


class ArrowItem(_Body):
    """One product line of CreateOrder (§6): a SKU or price-band SKU and a quantity."""

    sku: Text | None = None
    arrowSpherePriceBandSku: Text | None = None
    quantity: Annotated[StrictInt, Field(ge=1)]
    subscription: _Reference | None = None
    parentLicenseId: StrictStr | None = None
    parentSku: StrictStr | None = None
    periodicity: StrictStr | StrictInt | None = None
    term: StrictStr | StrictInt | None = None
    discount: float | None = None
    uplift: float | None = None
    autoRenew: bool | None = None
    effectiveStartDate: StrictStr | None = None
    effectiveEndDate: StrictStr | None = None
    friendlyName: StrictStr | None = None
    comment1: StrictStr | None = None
    comment2: StrictStr | None = None
    promotionId: StrictStr | None = None
    coterminosityDate: StrictStr | None = None
    coterminositySubscriptionRef: StrictStr | None = None
    price: dict[str, Any] | None = None
    eavs: list[Any] | dict[str, Any] | None = None

    @model_validator(mode="after")
    def _names_a_sku(self) -> ArrowItem:
        if self.sku is None and self.arrowSpherePriceBandSku is None:
            raise ValueError("give sku or arrowSpherePriceBandSku")
        return self


class _ExtraInformation(_Body):
    programs: dict[str, dict[str, Any]]


class ArrowOptions(_Body):
    """``provider_options`` of an Arrow create: CreateOrder's optional keys (§6)."""

    scenario: Literal["injection", "reconciliation", "provision", "default"] | None = None
    scheduledDate: Annotated[StrictStr, AfterValidator(_day)] | None = None
    organizationUnitRef: Annotated[StrictStr, AfterValidator(_organization_unit)] | None = None
    customFields: list[CustomField] | None = None
    extraInformation: _ExtraInformation | None = None
    ponumber: Text | None = None
    endCustomerPONumber: Text | None = None
    quoteRef: Text | None = None


class ArrowDraft(_Body):
    name: Text | None
    service: Annotated[object, AfterValidator(_no_service)]
    customer: Annotated[StrictStr | None, AfterValidator(_customer)]
    items: list[ArrowItem]
    parameters: Annotated[dict[str, Any], AfterValidator(_no_parameters)]
    provider_options: ArrowOptions


def validate_draft(draft: OrderDraft) -> ArrowDraft:
    """The draft as Arrow needs it, or ValidationFailedError naming each bad field."""
    try:
        valid = ArrowDraft.model_validate(
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
            exc, "The order cannot be placed at Arrow as given."
        ) from exc
    errors = []
    options = valid.provider_options
    if not valid.items and options.quoteRef is None:
        errors.append(
            {"loc": ["body", "items"], "msg": "at least one item, unless provider_options.quoteRef"}
        )
    if valid.name is not None and options.ponumber is not None and valid.name != options.ponumber:
        msg = "an Arrow order's name is its PO number: give name or provider_options.ponumber, not both"
        errors.append({"loc": ["body", "name"], "msg": msg})
    if errors:
        raise ValidationFailedError("The order cannot be placed at Arrow as given.", errors=errors)
    return valid


def create_body(draft: OrderDraft) -> dict[str, Any]:
    """CreateOrder (§6) for ``draft``, carrying its marker; validated first."""
    valid = validate_draft(draft)
    options = valid.provider_options
    ponumber = options.ponumber or valid.name or draft.marker
    customer: dict[str, Any] = {"reference": valid.customer, "ponumber": ponumber}
    if options.endCustomerPONumber is not None:
        customer["endCustomerPONumber"] = options.endCustomerPONumber
    body: dict[str, Any] = {"customer": customer}
    if valid.items:
        body["products"] = [item.model_dump(exclude_none=True) for item in valid.items]
    for key in ("scenario", "scheduledDate", "organizationUnitRef", "quoteRef"):
        if getattr(options, key) is not None:
            body[key] = getattr(options, key)
    if options.extraInformation is not None:
        body["extraInformation"] = options.extraInformation.model_dump()
    fields = [field.model_dump() for field in options.customFields or ()]
    if ponumber != draft.marker:
        fields.append({"label": MARKER_LABEL, "value": draft.marker})
    if fields:
        body["customFields"] = fields
    return body


def carries_marker(order: Order, marker: str, customer: str | None) -> bool:
    """Whether ``order`` is the one a create with ``marker`` (for ``customer``) made."""
    if customer is not None and (order.customer is None or order.customer.id != customer):
        return False
    if order.name == marker:
        return True
    fields = order.extra.get("customFields")
    return isinstance(fields, list) and any(
        isinstance(field, dict) and field.get("label") == MARKER_LABEL and field.get("value") == marker
        for field in fields
    )


def check_create_answer(status: int, content: bytes) -> None:
    """§7: a refused create (400, 404, 422 — also inside a 2xx envelope) is the caller's
    request failing validation at Arrow; the upstream's words are not repeated."""
    inner = status
    if 200 <= status < 300:
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            return
        code = body.get("status") if isinstance(body, dict) else None
        if isinstance(code, int) and not isinstance(code, bool):
            inner = code
    if inner in (400, 404, 422):
        raise ValidationFailedError(
            "The provider refused the order.",
            errors=[{"loc": ["body"], "msg": "refused by the provider (unknown customer or product?)"}],
        )
    # Anything else (credentials, 5xx, garbage) is read by `wire.parse_created`.
