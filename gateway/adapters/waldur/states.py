"""Waldur order states (waldur.md §6) and the normalised status each one maps to."""

from __future__ import annotations

from gateway.models import Status

# One row per upstream state; docs/status-mapping.md shows the same table and a test pins
# every row. All four pending-* states wait on someone (consumer, provider, project start,
# order start date), so they are all `pending`.
WALDUR_STATES: dict[str, Status] = {
    "pending-consumer": Status.PENDING,
    "pending-provider": Status.PENDING,
    "pending-project": Status.PENDING,
    "pending-start-date": Status.PENDING,
    "executing": Status.IN_PROGRESS,
    "done": Status.COMPLETED,
    "erred": Status.FAILED,
    "canceled": Status.CANCELLED,
    "rejected": Status.REJECTED,
}

# The states Waldur added over the years were all new waiting steps (pending-project,
# pending-start-date), so an unknown state is most likely one more: `pending`.
WALDUR_FALLBACK_STATUS = Status.PENDING

WALDUR_TERMINAL_STATES = frozenset({"done", "erred", "canceled", "rejected"})


def waldur_status(state: str) -> Status:
    return WALDUR_STATES.get(state, WALDUR_FALLBACK_STATUS)


def waldur_states_for(statuses: frozenset[Status]) -> frozenset[str]:
    """Every Waldur state that maps to one of ``statuses``."""
    return frozenset(state for state, status in WALDUR_STATES.items() if status in statuses)
