"""ArrowSphere order and item statuses (arrow.md §8) and the normalised status each one maps to."""

from __future__ import annotations

from gateway.models import Status

# One row per upstream status, spelled as Arrow's `OrderStatusEnum` spells it; lookups are
# case-insensitive (§8: fixtures also say `open`). docs/status-mapping.md shows the same
# table and a test pins every row.
ARROW_STATES: dict[str, Status] = {
    # Waiting for someone (the partner, a validator, finance, the scheduled date, the queue).
    "Open": Status.PENDING,
    "Needs Validation": Status.PENDING,
    "Needs Partner Validation": Status.PENDING,
    "Ongoing Validation": Status.PENDING,
    "Pending Finance validation": Status.PENDING,
    "pending validation": Status.PENDING,  # not in the enum; php-client's doc filters on it
    "Scheduled Order": Status.PENDING,
    "Order queued": Status.PENDING,
    # Accepted and being worked on; warnings are retried by Arrow and may still succeed.
    "Accepted": Status.IN_PROGRESS,
    "Order Validated": Status.IN_PROGRESS,
    "Validated by partner": Status.IN_PROGRESS,
    "Validated by country admin": Status.IN_PROGRESS,
    "Validated by arrow finance": Status.IN_PROGRESS,
    "In progress": Status.IN_PROGRESS,
    "Sent": Status.IN_PROGRESS,
    "Syncing with Billfeed": Status.IN_PROGRESS,
    "Transfer in progress": Status.IN_PROGRESS,
    "Migration cancel in progress": Status.IN_PROGRESS,
    "Internal Warning": Status.IN_PROGRESS,
    "External Warning": Status.IN_PROGRESS,
    "Fulfilled": Status.COMPLETED,
    "Transfer ok": Status.COMPLETED,
    # Archived: only finished orders are archived (§8) and the outcome before archiving is
    # not on the wire; an archived order is done with, so `completed`.
    "Archived": Status.COMPLETED,
    "Billfeed Error": Status.FAILED,
    "Transfer Failed": Status.FAILED,
    "Migration failed": Status.FAILED,
    "Canceled": Status.CANCELLED,
    "Migration canceled": Status.CANCELLED,
    "Not Accepted": Status.REJECTED,
}

# Most of Arrow's in-flight statuses are processing steps, and a new one is likelier one
# more of those than an outcome: `in_progress`, which claims no result.
ARROW_FALLBACK_STATUS = Status.IN_PROGRESS

# Product (item) statuses, `OrderItemStatusEnum` (§8).
ARROW_ITEM_STATES: dict[str, Status] = {
    "Pending": Status.PENDING,
    "Open": Status.PENDING,
    "Pending relationship": Status.PENDING,  # waiting for the customer to accept the reseller
    "In progress": Status.IN_PROGRESS,
    "Pre-provisioned": Status.IN_PROGRESS,
    "Transfer in progress": Status.IN_PROGRESS,
    "Provisioned": Status.COMPLETED,
    "Transfer ok": Status.COMPLETED,
    "Archived": Status.COMPLETED,  # as for orders
    "Internal Error": Status.FAILED,
    "External Error": Status.FAILED,
    "Transfer Failed": Status.FAILED,
}
ARROW_ITEM_FALLBACK_STATUS = Status.IN_PROGRESS

_FOLDED = {state.casefold(): status for state, status in ARROW_STATES.items()}
_FOLDED_ITEMS = {state.casefold(): status for state, status in ARROW_ITEM_STATES.items()}


def arrow_status(state: str) -> Status:
    """The normalised status of an order status, in any capitalisation; the fallback if unknown."""
    return _FOLDED.get(state.casefold(), ARROW_FALLBACK_STATUS)


def arrow_item_status(state: str) -> Status:
    return _FOLDED_ITEMS.get(state.casefold(), ARROW_ITEM_FALLBACK_STATUS)


def is_known_state(state: str) -> bool:
    return state.casefold() in _FOLDED
