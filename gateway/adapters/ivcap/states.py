"""IVCAP order statuses of both dialects (ivcap.md §6, §9) and the normalised status of each."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.models import Status

# One row per upstream status; docs/status-mapping.md shows the same tables and a test pins
# every row. §6's suggested mapping: `scheduled` still waits (for a slot), `unknown` is an
# order the backend lost track of after accepting it — not known to have ended.
IVCAP_STATES: dict[str, Status] = {
    "pending": Status.PENDING,
    "scheduled": Status.PENDING,
    "executing": Status.IN_PROGRESS,
    "succeeded": Status.COMPLETED,
    "failed": Status.FAILED,
    "error": Status.FAILED,
    "unknown": Status.IN_PROGRESS,
}

# The older REST shape (§9) had four statuses.
IVCAP_LEGACY_STATES: dict[str, Status] = {
    "pending": Status.PENDING,
    "executing": Status.IN_PROGRESS,
    "finished": Status.COMPLETED,
    "error": Status.FAILED,
}

# A status neither table knows is treated like IVCAP's own `unknown`: the order exists and
# is not known to have ended, so it is neither claimed to wait nor claimed to be over.
IVCAP_FALLBACK_STATUS = Status.IN_PROGRESS

IVCAP_TERMINAL_STATES = frozenset({"succeeded", "failed", "error"})
IVCAP_LEGACY_TERMINAL_STATES = frozenset({"finished", "error"})


def ivcap_status(state: str, table: Mapping[str, Status] = IVCAP_STATES) -> Status:
    return table.get(state, IVCAP_FALLBACK_STATUS)
