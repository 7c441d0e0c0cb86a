"""Every row of the Arrow order and item status tables, pinned; the docs tables match the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.adapters.arrow import (
    ARROW_FALLBACK_STATUS,
    ARROW_ITEM_FALLBACK_STATUS,
    ARROW_ITEM_STATES,
    ARROW_STATES,
)
from gateway.adapters.arrow.states import arrow_item_status, arrow_status, is_known_state
from gateway.models import Status

# arrow.md §8, `OrderStatusEnum` of the node client, as spelled there.
ORDER_STATUS_ENUM = (
    "Accepted", "Archived", "Billfeed Error", "External Warning", "Fulfilled", "In progress",
    "Internal Warning", "Migration canceled", "Migration cancel in progress", "Migration failed",
    "Needs Validation", "Needs Partner Validation", "Not Accepted", "Ongoing Validation", "Open",
    "Order queued", "Syncing with Billfeed", "Transfer Failed", "Transfer in progress",
    "Transfer ok", "Sent", "Order Validated", "Scheduled Order", "Canceled",
    "Pending Finance validation", "Validated by partner", "Validated by country admin",
    "Validated by arrow finance",
)  # fmt: skip
# arrow.md §8, `OrderItemStatusEnum`.
ITEM_STATUS_ENUM = (
    "Archived", "External Error", "In progress", "Internal Error", "Open", "Pending",
    "Pending relationship", "Pre-provisioned", "Provisioned", "Transfer Failed",
    "Transfer in progress", "Transfer ok",
)  # fmt: skip

EXPECTED = [
    ("Open", "pending"),
    ("Needs Validation", "pending"),
    ("Needs Partner Validation", "pending"),
    ("Ongoing Validation", "pending"),
    ("Pending Finance validation", "pending"),
    ("pending validation", "pending"),
    ("Scheduled Order", "pending"),
    ("Order queued", "pending"),
    ("Accepted", "in_progress"),
    ("Order Validated", "in_progress"),
    ("Validated by partner", "in_progress"),
    ("Validated by country admin", "in_progress"),
    ("Validated by arrow finance", "in_progress"),
    ("In progress", "in_progress"),
    ("Sent", "in_progress"),
    ("Syncing with Billfeed", "in_progress"),
    ("Transfer in progress", "in_progress"),
    ("Migration cancel in progress", "in_progress"),
    ("Internal Warning", "in_progress"),
    ("External Warning", "in_progress"),
    ("Fulfilled", "completed"),
    ("Transfer ok", "completed"),
    ("Archived", "completed"),
    ("Billfeed Error", "failed"),
    ("Transfer Failed", "failed"),
    ("Migration failed", "failed"),
    ("Canceled", "cancelled"),
    ("Migration canceled", "cancelled"),
    ("Not Accepted", "rejected"),
]
EXPECTED_ITEMS = [
    ("Pending", "pending"),
    ("Open", "pending"),
    ("Pending relationship", "pending"),
    ("In progress", "in_progress"),
    ("Pre-provisioned", "in_progress"),
    ("Transfer in progress", "in_progress"),
    ("Provisioned", "completed"),
    ("Transfer ok", "completed"),
    ("Archived", "completed"),
    ("Internal Error", "failed"),
    ("External Error", "failed"),
    ("Transfer Failed", "failed"),
]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "status-mapping.md"


@pytest.mark.parametrize(("state", "status"), EXPECTED)
def test_arrow_status_maps_to_its_status(state: str, status: str) -> None:
    assert arrow_status(state) == Status(status)
    assert ARROW_STATES[state] == Status(status)


@pytest.mark.parametrize(("state", "status"), EXPECTED_ITEMS)
def test_arrow_item_status_maps_to_its_status(state: str, status: str) -> None:
    assert arrow_item_status(state) == Status(status)
    assert ARROW_ITEM_STATES[state] == Status(status)


def test_every_order_status_of_the_enum_has_a_row_and_nothing_else_does() -> None:
    assert set(ORDER_STATUS_ENUM) <= set(ARROW_STATES)
    # The one extra row: the lower-case `pending validation` of the PHP client's doc.
    assert set(ARROW_STATES) - set(ORDER_STATUS_ENUM) == {"pending validation"}
    assert len(ORDER_STATUS_ENUM) == 28
    assert dict(EXPECTED) == {state: status.value for state, status in ARROW_STATES.items()}


def test_every_item_status_of_the_enum_has_a_row_and_nothing_else_does() -> None:
    assert set(ARROW_ITEM_STATES) == set(ITEM_STATUS_ENUM)
    assert len(ITEM_STATUS_ENUM) == 12
    assert dict(EXPECTED_ITEMS) == {state: status.value for state, status in ARROW_ITEM_STATES.items()}


@pytest.mark.parametrize(
    ("spelling", "status"),
    [
        ("open", Status.PENDING),
        ("OPEN", Status.PENDING),
        ("Pending Validation", Status.PENDING),
        ("in Progress", Status.IN_PROGRESS),
        ("canceled", Status.CANCELLED),
        ("TRANSFER OK", Status.COMPLETED),
        ("not accepted", Status.REJECTED),
    ],
)
def test_lookup_ignores_case(spelling: str, status: Status) -> None:
    assert arrow_status(spelling) is status
    assert is_known_state(spelling)


def test_item_lookup_ignores_case() -> None:
    assert arrow_item_status("provisioned") is Status.COMPLETED
    assert arrow_item_status("TRANSFER FAILED") is Status.FAILED


def test_unknown_statuses_take_the_documented_fallbacks() -> None:
    assert arrow_status("Awaiting Vendor Quantum Review") == ARROW_FALLBACK_STATUS == Status.IN_PROGRESS
    assert not is_known_state("Awaiting Vendor Quantum Review")
    # Canceled has one "l" at Arrow: the British spelling is not a known status.
    assert not is_known_state("Cancelled")
    assert arrow_item_status("Quarantined") == ARROW_ITEM_FALLBACK_STATUS == Status.IN_PROGRESS


def _docs_rows(section: str) -> dict[str, str]:
    return dict(re.findall(r"^\| `([^`]+)` \| `([a-z_]+)` \|$", section, flags=re.MULTILINE))


def test_docs_tables_match_the_code() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("\n## Arrow", 1)[1].split("\n## ", 1)[0]
    orders, items = section.split("\n### Arrow items", 1)
    assert _docs_rows(orders) == {state: status.value for state, status in ARROW_STATES.items()}
    assert _docs_rows(items) == {state: status.value for state, status in ARROW_ITEM_STATES.items()}
    assert f"Fallback for an unknown Arrow status: `{ARROW_FALLBACK_STATUS.value}`" in orders
    assert f"Fallback for an unknown item status: `{ARROW_ITEM_FALLBACK_STATUS.value}`" in items
