"""What can be done to an Arrow order (arrow.md §4, §8): action names, their payloads, ``Order.actions``.

Pure tables and pydantic payload models; the requests they become are in `wire_actions`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

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

from gateway.adapters.base import Upload
from gateway.errors import UnsupportedActionError, ValidationFailedError

# PATCH orders/{reference}/{name}, no body (§4); the status decides whether Arrow accepts
# them, and an order's `actions` object lists those it accepts now (§4, INFERRED there).
LIFECYCLE_ACTIONS = ("cancel", "validate", "resubmit", "archive", "rejectGraded")
# Changes to an order's metadata: Arrow takes them whatever the status (docs/decisions.md).
METADATA_WRITES = ("update_po", "contributor", "additionalInformation", "add_attachment", "delete_attachment")
READ_ACTIONS = ("attachments", "history")
ARROW_ACTIONS = frozenset(LIFECYCLE_ACTIONS + METADATA_WRITES + READ_ACTIONS)

# Generic actions Arrow has no counterpart for. `approve` / `reject` are deliberately not
# `validate` / `rejectGraded`: those are steps of Arrow's own validation workflow (partner,
# country admin, Arrow finance — a graded rejection is final), reached from statuses our
# approve/reject do not describe (`validate` also applies to a plain `Open` order), while
# API.md's approve/reject are Waldur's consumer/provider approval with an `as` payload.
# Calling them by their Arrow names keeps each meaning exact.
UNSUPPORTED = {
    "approve": "Arrow orders are validated with the 'validate' action.",
    "reject": "Arrow orders are rejected at validation with the 'rejectGraded' action.",
    "delete": "Arrow orders cannot be deleted; cancel or archive them.",
    "offering": "Arrow orders have no offering to show.",
}

# Attachment names travel in a path segment (§4 DELETE .../attachment/{name}).
_ATTACHMENT_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")


def order_actions(listed: Any) -> tuple[str, ...]:
    """``Order.actions``: the lifecycle actions the order's ``actions`` object lists (read
    actions like ``history`` are not listed), then the metadata writes, allowed always."""
    names = listed.keys() if isinstance(listed, Mapping) else ()
    return tuple(action for action in LIFECYCLE_ACTIONS if action in names) + METADATA_WRITES


def check_action(action: str) -> None:
    """UnsupportedActionError unless ``action`` is one Arrow has."""
    if action in UNSUPPORTED:
        raise UnsupportedActionError(UNSUPPORTED[action])
    if action not in ARROW_ACTIONS:
        raise UnsupportedActionError(f"Arrow orders have no action '{action}'.")


def _attachment_name(value: str) -> str:
    if _ATTACHMENT_NAME.match(value) is None:
        raise ValueError(
            "an attachment name has 1 to 200 characters, without '/', '\\' or control characters"
        )
    return value


AttachmentName = Annotated[StrictStr, AfterValidator(_attachment_name)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class NoPayload(_Payload):
    """Lifecycle and read actions take nothing."""


class _Contributor(_Payload):
    type: Literal["icst", "isr", "fcst", "fsr", "sor"]
    staffId: StrictInt | None


class ContributorPayload(_Payload):
    contributor: Annotated[list[_Contributor], Field(min_length=1)]


class _NameValue(_Payload):
    name: Annotated[StrictStr, Field(min_length=1)]
    value: StrictStr


class AdditionalInformationPayload(_Payload):
    data: Annotated[list[_NameValue], Field(min_length=1)]


class CustomField(_Payload):
    label: Annotated[StrictStr, Field(min_length=1)]
    value: StrictStr


class UpdatePoPayload(_Payload):
    """``PATCH orders/{reference}`` in Arrow's own names (§4); a null clears the field."""

    PO_number: StrictStr | None = None
    end_customer_PO_number: StrictStr | None = None
    customFields: list[CustomField] | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> UpdatePoPayload:
        if not self.model_fields_set:
            raise ValueError("give at least one of PO_number, end_customer_PO_number, customFields")
        return self


class AddAttachmentPayload(_Payload):
    """A file, as a multipart ``attachment`` (named by its file name unless ``name`` is given)
    or as ``name`` + ``content_base64``."""

    attachment: Upload | None = None
    name: AttachmentName | None = None
    content_base64: StrictStr | None = None

    @model_validator(mode="after")
    def _one_file(self) -> AddAttachmentPayload:
        if (self.attachment is None) == (self.content_base64 is None):
            raise ValueError("give either attachment or content_base64")
        if self.content_base64 is not None:
            if self.name is None:
                raise ValueError("name is required with content_base64")
            try:
                base64.b64decode(self.content_base64, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("content_base64 is not base64") from None
        elif self.name is None and self.attachment is not None:
            _attachment_name(self.attachment.filename)
        return self

    def file_name(self) -> str:
        return self.name or (self.attachment.filename if self.attachment else "")

    def encoded(self) -> str:
        if self.attachment is not None:
            return base64.b64encode(self.attachment.content).decode("ascii")
        return self.content_base64 or ""


class DeleteAttachmentPayload(_Payload):
    name: AttachmentName


PAYLOADS: dict[str, type[_Payload]] = {
    **dict.fromkeys(LIFECYCLE_ACTIONS + READ_ACTIONS, NoPayload),
    "update_po": UpdatePoPayload,
    "contributor": ContributorPayload,
    "additionalInformation": AdditionalInformationPayload,
    "add_attachment": AddAttachmentPayload,
    "delete_attachment": DeleteAttachmentPayload,
}


def validate_payload(action: str, payload: Mapping[str, Any]) -> _Payload:
    """The payload of a known action, validated; ValidationFailedError with ``body`` paths."""
    try:
        return PAYLOADS[action].model_validate(dict(payload))
    except ValidationError as exc:
        raise ValidationFailedError.from_pydantic(exc, "The action's payload is not valid.") from exc
