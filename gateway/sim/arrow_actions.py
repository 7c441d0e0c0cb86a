"""The simulated ArrowSphere's writes on one order: the status machine, metadata and attachments.

Arrow publishes no state machine (§8 of ``shared/upstreams/arrow.md`` is INFERRED); this is
ours, documented in ``docs/decisions.md``. Statuses are compared case-insensitively. An action
the current status does not allow is refused with a 400 (§7 leaves 400 or 409 open). Every
change appends one history entry. The simulator never moves an order on its own.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from gateway.sim.arrow_data import (
    LOWER_CASE_STATUSES,
    ORDER_STATUSES,
    ArrowOrder,
    Attachment,
    HistoryEntry,
)

# Final statuses: cancel no longer applies, archive does (§8: "final states --archive-->").
FINAL = frozenset({"fulfilled", "transfer ok", "canceled", "migration canceled", "not accepted", "archived"})
VALIDATION = frozenset(
    {"needs validation", "needs partner validation", "pending finance validation", "ongoing validation",
     "pending validation"}
)  # fmt: skip
ALL_STATUSES_FOLDED = frozenset(s.casefold() for s in ORDER_STATUSES + LOWER_CASE_STATUSES)

# action → {current status (case-folded) → next status}; the order of the keys is the order
# of an order's `actions` object.
TRANSITIONS: dict[str, dict[str, str]] = {
    "cancel": {
        status: "Canceled" for status in ALL_STATUSES_FOLDED - FINAL - {"migration cancel in progress"}
    },
    "validate": {
        "open": "Order Validated",
        "needs validation": "Order Validated",
        "pending validation": "Order Validated",
        "ongoing validation": "Order Validated",
        "needs partner validation": "Validated by partner",
        "pending finance validation": "Validated by arrow finance",
    },
    "rejectGraded": dict.fromkeys(VALIDATION, "Not Accepted"),
    "resubmit": {
        "billfeed error": "In progress",
        "internal warning": "In progress",
        "external warning": "In progress",
        "migration failed": "In progress",
        "transfer failed": "Transfer in progress",
    },
    "archive": dict.fromkeys(FINAL - {"archived"}, "Archived"),
}
DESCRIPTIONS = {
    "cancel": "Order canceled",
    "validate": "Order validated",
    "rejectGraded": "Order rejected at validation",
    "resubmit": "Order resubmitted",
    "archive": "Order archived",
}
# Item statuses a resubmit puts back to work, and the one each becomes.
RESUBMITTED_ITEMS = {
    "Internal Error": "In progress",
    "External Error": "In progress",
    "Transfer Failed": "Transfer in progress",
}


class RefusedError(Exception):
    """A request the simulated server refuses: the HTTP status and the §7 envelope's texts."""

    def __init__(self, status: int, error: str, messages: str | list[str]) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.messages = messages


def allowed_actions(status: str) -> tuple[str, ...]:
    """The lifecycle actions an order in ``status`` allows, in `TRANSITIONS` order."""
    folded = status.casefold()
    return tuple(action for action, moves in TRANSITIONS.items() if folded in moves)


def perform_action(order: ArrowOrder, action: str, *, now: datetime, user: str) -> None:
    """Move ``order`` by ``action`` or raise `RefusedError` (400) when its status forbids it."""
    target = TRANSITIONS[action].get(order.status.casefold())
    if target is None:
        raise RefusedError(
            400,
            "Bad Request",
            f"The action '{action}' is not allowed for an order in status '{order.status}'.",
        )
    order.status = target
    order.date_status = now
    for product in order.products:
        if action == "archive":
            product.status = product.detailed_status = "Archived"
            product.date_status = now
        elif action == "resubmit" and product.status in RESUBMITTED_ITEMS:
            product.status = product.detailed_status = RESUBMITTED_ITEMS[product.status]
            product.date_status = now
    order.history.append(HistoryEntry(action, DESCRIPTIONS[action], user, now))


# --- metadata -------------------------------------------------------------------------


M = TypeVar("M", bound=BaseModel)


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CustomField(StrictBody):
    label: StrictStr
    value: StrictStr


class _UpdateBody(StrictBody):
    """``PATCH /orders/{reference}`` (§4): PO numbers and custom fields."""

    PO_number: StrictStr | None = None
    end_customer_PO_number: StrictStr | None = None
    customFields: list[CustomField] | None = None


class _Contributor(StrictBody):
    type: Literal["icst", "isr", "fcst", "fsr", "sor"]
    staffId: int | None


class _ContributorBody(StrictBody):
    contributor: Annotated[list[_Contributor], Field(min_length=1)]


class _NameValue(StrictBody):
    name: StrictStr
    value: StrictStr


class _AdditionalInformationBody(StrictBody):
    data: Annotated[list[_NameValue], Field(min_length=1)]


class _AttachmentBody(StrictBody):
    name: Annotated[StrictStr, Field(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f]+$")]
    fileEncoded: StrictStr


def describe_errors(exc: ValidationError) -> list[str]:
    """Field paths and messages, never the input values."""
    return [
        f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def parse_body(model: type[M], body: bytes) -> M:
    """``body`` validated as ``model``, or `RefusedError` (400) listing what is wrong."""
    try:
        return model.model_validate_json(body or b"null")
    except ValidationError as exc:
        raise RefusedError(400, "Bad Request", describe_errors(exc)) from exc


def update_order(order: ArrowOrder, body: bytes, *, now: datetime, user: str) -> None:
    """Apply ``PATCH /orders/{reference}``; an empty update is refused."""
    update = parse_body(_UpdateBody, body)
    if not update.model_fields_set:
        raise RefusedError(400, "Bad Request", "Nothing to update.")
    if "PO_number" in update.model_fields_set:
        order.ponumber = update.PO_number
    if "end_customer_PO_number" in update.model_fields_set:
        order.end_customer_po = update.end_customer_PO_number
    if update.customFields is not None:
        order.custom_fields = [field.model_dump() for field in update.customFields]
    order.history.append(HistoryEntry("update", "Order updated", user, now))


def set_contributors(order: ArrowOrder, body: bytes, *, now: datetime, user: str) -> None:
    """Apply ``PATCH .../contributor``: one staff contributor per type, replaced."""
    contributors = {c["type"]: c for c in order.contributors}
    for contributor in parse_body(_ContributorBody, body).contributor:
        contributors[contributor.type] = contributor.model_dump()
    order.contributors = list(contributors.values())
    order.history.append(HistoryEntry("contributor", "Staff contributors updated", user, now))


def set_additional_information(order: ArrowOrder, body: bytes, *, now: datetime, user: str) -> None:
    """Apply ``PATCH .../additionalInformation``: name/value pairs, replaced by name."""
    known = {item["name"]: item for item in order.additional_information}
    for item in parse_body(_AdditionalInformationBody, body).data:
        known[item.name] = item.model_dump()
    order.additional_information = list(known.values())
    order.history.append(HistoryEntry("additionalInformation", "Additional information updated", user, now))


def add_attachment(order: ArrowOrder, body: bytes, *, now: datetime, user: str) -> Attachment:
    """Apply ``POST .../attachment``: a base64 file under a name (a second upload replaces it)."""
    upload = parse_body(_AttachmentBody, body)
    try:
        content = base64.b64decode(upload.fileEncoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RefusedError(400, "Bad Request", "fileEncoded: not base64") from exc
    attachment = Attachment(upload.name, content, now)
    order.attachments[upload.name] = attachment
    order.history.append(HistoryEntry("attachment", f"Attachment {upload.name} added", user, now))
    return attachment


def delete_attachment(order: ArrowOrder, name: str, *, now: datetime, user: str) -> None:
    if order.attachments.pop(name, None) is None:
        raise RefusedError(404, "Not Found", f"No attachment named '{name}' on order {order.reference}.")
    order.history.append(HistoryEntry("attachment", f"Attachment {name} deleted", user, now))
