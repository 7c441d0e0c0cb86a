"""What can be done to an IVCAP order (ivcap.md §4), per dialect: action names and their payloads.

Pure tables and pydantic payload models; the requests they become are in `wire_actions`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, ValidationError

from gateway.adapters.ivcap.wire_common import normalise_urn
from gateway.errors import UnsupportedActionError, ValidationFailedError

# The current API reads an order's aspects and products and its service, and adds aspects
# (§4); the legacy shape has none of those endpoints, only what a read embeds (§9).
CURRENT_ACTIONS = frozenset({"metadata", "add_metadata", "products", "offering"})
LEGACY_ACTIONS = frozenset({"metadata", "products"})
READ_ACTIONS = frozenset({"metadata", "products", "offering"})
# Order.actions: the writes an order allows now. Aspects can be added in every state.
CURRENT_WRITE_ACTIONS = ("add_metadata",)

UNSUPPORTED = {
    # §4: "There is no cancel, update or delete for orders."
    "cancel": "IVCAP orders cannot be cancelled.",
    "approve": "IVCAP orders need no approval.",
    "reject": "IVCAP orders cannot be rejected.",
    "delete": "IVCAP orders cannot be deleted.",
    "history": "IVCAP keeps no history of an order; see its metadata.",
}
_SCHEMA = re.compile(r"^\S{1,512}$")


def check_action(action: str, available: frozenset[str]) -> None:
    """UnsupportedActionError unless ``action`` is in this dialect's ``available`` set."""
    if action in available:
        return
    if action in UNSUPPORTED:
        raise UnsupportedActionError(UNSUPPORTED[action])
    if action in CURRENT_ACTIONS:
        raise UnsupportedActionError(f"This IVCAP instance's API has no '{action}'.")
    raise UnsupportedActionError(f"IVCAP orders have no action '{action}'.")


def urn_of(kind: str) -> Any:
    """A validator: the value is a ``urn:ivcap:<kind>:<uuid>``, returned normalised (§2)."""

    def check(value: str) -> str:
        urn = normalise_urn(value, kind)
        if urn is None:
            raise ValueError(f"not a urn:ivcap:{kind}:<uuid>")
        return urn

    return check


def _schema(value: str) -> str:
    if _SCHEMA.match(value) is None:
        raise ValueError("a schema is 1 to 512 characters without spaces, e.g. a URN")
    return value


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)


class NoPayload(_Payload):
    """Read actions take nothing."""


class AddMetadataPayload(_Payload):
    """One aspect for the order (§4 ``POST /1/aspects``): its schema, content and policy."""

    schema_: Annotated[StrictStr, AfterValidator(_schema)] = Field(alias="schema")
    content: dict[str, Any]
    policy: Annotated[StrictStr, AfterValidator(urn_of("policy"))] | None = None


PAYLOADS: dict[str, type[_Payload]] = {
    "metadata": NoPayload,
    "products": NoPayload,
    "offering": NoPayload,
    "add_metadata": AddMetadataPayload,
}


def validate_payload(action: str, payload: Mapping[str, Any]) -> _Payload:
    """The payload of a known action, validated; ValidationFailedError with ``body`` paths."""
    try:
        return PAYLOADS[action].model_validate(dict(payload))
    except ValidationError as exc:
        raise ValidationFailedError.from_pydantic(exc, "The action's payload is not valid.") from exc
