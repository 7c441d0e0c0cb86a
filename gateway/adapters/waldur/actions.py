"""Waldur order actions as pure functions: payloads checked, calls planned, refusals and the
offering read (waldur.md §4, §6, §7).

`plan_action` turns a gateway action and its payload into one upstream call (an
`ActionCall`), or raises before any call: UnsupportedActionError for an action Waldur does
not have (``history`` included), ValidationFailedError with ``["body", ...]`` paths for a bad
payload. Waldur's answers to actions carry nothing the gateway needs (some servers send no
body where the 8.1.3 client wants one), so only the status is read; the shell re-reads the
order afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    InstanceOf,
    StrictStr,
    ValidationError,
)

from gateway.adapters.base import Upload
from gateway.adapters.waldur.wire import WaldurContext, classify_error, normalise_native_id
from gateway.errors import (
    ActionNotAllowedError,
    GatewayError,
    OrderNotFoundError,
    UnsupportedActionError,
    UpstreamBadResponseError,
    ValidationFailedError,
)
from gateway.models import decimal_text

# The provider-specific actions (POST /orders/{id}/actions/{name}), and those of them that
# only staff or the offering's provider may run.
WALDUR_PROVIDER_ACTIONS = frozenset(
    {
        "unlink",
        "set_state_done",
        "set_state_erred",
        "set_state_executing",
        "set_backend_id",
        "update_attachment",
        "delete_attachment",
        "retry",
    }
)
WALDUR_ADMIN_ACTIONS = frozenset(
    {"unlink", "set_state_done", "set_state_erred", "set_state_executing", "set_backend_id"}
)


@dataclass(frozen=True, slots=True)
class ActionCall:
    """One upstream call for an action, relative to ``marketplace-orders/<uuid>/``."""

    method: str
    path: str  # "" for the order itself, else "<endpoint>/"
    json: dict[str, Any] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    gone: bool = False  # the order no longer exists afterwards
    reads_offering: bool = False


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # aliases (`as`) only


class NoPayload(_Payload):
    """Actions that take nothing."""


class ApprovePayload(_Payload):
    role: Literal["consumer", "provider"] = Field(default="consumer", alias="as")
    attributes: dict[str, Any] | None = None  # provider only: merged into the order's


class RejectPayload(_Payload):
    role: Literal["consumer", "provider"] = Field(default="consumer", alias="as")
    comment: StrictStr | None = Field(default=None, max_length=10_000)


class ErredPayload(_Payload):
    message: StrictStr = Field(default="", max_length=10_000)
    traceback: StrictStr = Field(default="", max_length=100_000)


class BackendIdPayload(_Payload):
    backend_id: StrictStr = Field(min_length=1, max_length=255, pattern=r"\S")


class AttachmentPayload(_Payload):
    attachment: InstanceOf[Upload]


def _approve(p: ApprovePayload) -> ActionCall:
    if p.role == "consumer":
        return ActionCall("POST", "approve_by_consumer/")
    body = {} if p.attributes is None else {"attributes": p.attributes}
    return ActionCall("POST", "approve_by_provider/", json=body)


def _reject(p: RejectPayload) -> ActionCall:
    key = f"{p.role}_rejection_comment"
    body = {} if p.comment is None else {key: p.comment}
    return ActionCall("POST", f"reject_by_{p.role}/", json=body)


def _erred(p: ErredPayload) -> ActionCall:
    # Both keys always: the 2024-10 server reads them unconditionally.
    return ActionCall(
        "POST", "set_state_erred/", json={"error_message": p.message, "error_traceback": p.traceback}
    )


def _attachment(p: AttachmentPayload) -> ActionCall:
    upload = p.attachment
    return ActionCall(
        "POST",
        "update_attachment/",
        files={"attachment": (upload.filename, upload.content, upload.content_type)},
    )


def _simple(
    method: str, path: str, *, gone: bool = False, offering: bool = False
) -> Callable[[Any], ActionCall]:
    return lambda _: ActionCall(method, path, gone=gone, reads_offering=offering)


# action → (payload model, call builder); `history` is absent: Waldur keeps none.
WALDUR_ACTIONS: dict[str, tuple[type[_Payload], Callable[[Any], ActionCall]]] = {
    "approve": (ApprovePayload, _approve),
    "reject": (RejectPayload, _reject),
    "cancel": (NoPayload, _simple("POST", "cancel/")),
    "delete": (NoPayload, _simple("DELETE", "", gone=True)),
    "offering": (NoPayload, _simple("GET", "offering/", offering=True)),
    "unlink": (NoPayload, _simple("POST", "unlink/", gone=True)),
    "set_state_done": (NoPayload, _simple("POST", "set_state_done/")),
    "set_state_executing": (NoPayload, _simple("POST", "set_state_executing/")),
    "set_state_erred": (ErredPayload, _erred),
    "set_backend_id": (
        BackendIdPayload,
        lambda p: ActionCall("POST", "set_backend_id/", json=p.model_dump()),
    ),
    "update_attachment": (AttachmentPayload, _attachment),
    "delete_attachment": (NoPayload, _simple("POST", "delete_attachment/")),
    "retry": (NoPayload, _simple("POST", "retry/")),
}


def plan_action(action: str, payload: Mapping[str, Any]) -> ActionCall:
    """The upstream call for ``action``, or the error to answer without calling."""
    entry = WALDUR_ACTIONS.get(action)
    if entry is None:
        raise UnsupportedActionError(f"Waldur orders have no '{action}' action.")
    model, build = entry
    try:
        checked = model.model_validate(dict(payload))
    except ValidationError as exc:
        errors = [
            {"loc": ["body", *error["loc"]], "msg": error["msg"]}
            for error in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise ValidationFailedError("The action's body is not valid.", errors=errors) from exc
    if isinstance(checked, ApprovePayload) and checked.role == "consumer" and checked.attributes is not None:
        error = {"loc": ["body", "attributes"], "msg": "Only a provider approval can set attributes"}
        raise ValidationFailedError("The action's body is not valid.", errors=[error])
    return build(checked)


def native_uuid(native_id: str) -> str:
    uuid = normalise_native_id(native_id)
    if uuid is None:
        raise OrderNotFoundError("No such order.")
    return uuid


def action_refusal(instance: str, status: int, content: bytes) -> GatewayError:
    """One table from an action's refusal (§6) to ours; Waldur's own words are never used.

    A 404 is OrderNotFoundError here; the shell re-reads the order to tell a missing order
    from a missing endpoint or attachment."""
    if status == 409:
        return ActionNotAllowedError("The order's current state does not allow this action.")
    if status == 405:
        return UnsupportedActionError("This order's offering type does not support this action.")
    if status == 400:
        return ActionNotAllowedError("The provider refused this action for this order.")
    if status == 404:
        return OrderNotFoundError("No such order.")
    return classify_error(instance, status, content)


def is_success(status: int) -> bool:
    return 200 <= status < 300


# --- the offering (GET marketplace-orders/<uuid>/offering/) -----------------------------


class _Lenient(BaseModel):
    # hide_input_in_errors: errors chained into the log name fields, never upstream values.
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


class WaldurPlan(_Lenient):
    uuid: str
    name: str | None = None
    unit: str | None = None
    unit_price: str | float | None = None
    prices: dict[str, str | float] | None = None


class WaldurComponent(_Lenient):
    type: str
    name: str | None = None
    measured_unit: str | None = None
    billing_type: str | None = None
    min_value: float | None = None
    max_value: float | None = None


class WaldurOffering(_Lenient):
    """The part of ``PublicOfferingDetails`` the gateway shows."""

    uuid: str
    name: str | None = None
    description: str | None = None
    type: str | None = None
    customer_uuid: str | None = None
    customer_name: str | None = None
    category_title: str | None = None
    plans: list[WaldurPlan] = []
    components: list[WaldurComponent] = []


def parse_offering(ctx: WaldurContext, status: int, content: bytes) -> dict[str, Any]:
    """The offering answer as the gateway's offering object, or the GatewayError it stands for."""
    if status == 404:
        raise OrderNotFoundError("No such order.")
    if status != 200:
        raise classify_error(ctx.instance, status, content)
    try:
        offering = WaldurOffering.model_validate_json(content)
    except ValidationError as exc:
        raise UpstreamBadResponseError(
            "The provider's offering could not be read.", provider=ctx.instance, upstream_status=status
        ) from exc
    return {
        "id": normalise_native_id(offering.uuid) or offering.uuid,
        "name": offering.name,
        "description": offering.description,
        "type": offering.type,
        "provider": (
            {"id": offering.customer_uuid, "name": offering.customer_name} if offering.customer_uuid else None
        ),
        "category": offering.category_title,
        "plans": [_plan(plan, ctx.currency) for plan in offering.plans],
        "components": [
            {
                "id": c.type,
                "name": c.name,
                "unit": c.measured_unit,
                "billing_type": c.billing_type,
                "min": c.min_value,
                "max": c.max_value,
            }
            for c in offering.components
        ],
    }


def _plan(plan: WaldurPlan, currency: str) -> dict[str, Any]:
    price = _amount(plan.unit_price)
    return {
        "id": normalise_native_id(plan.uuid) or plan.uuid,
        "name": plan.name,
        "unit": plan.unit,
        "price": None if price is None else {"amount": price, "currency": currency},
        "component_prices": {
            name: {"amount": amount, "currency": currency}
            for name, value in sorted((plan.prices or {}).items())
            if (amount := _amount(value)) is not None
        },
    }


def _amount(value: str | float | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return decimal_text(amount) if amount.is_finite() else None
