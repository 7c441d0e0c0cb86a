"""Every row of both IVCAP status tables, pinned; complete against the client's enum; docs match."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ivcap_client.models.order_list_item_status import OrderListItemStatus
from ivcap_client.models.order_status_rt_status import OrderStatusRTStatus

from gateway.adapters.ivcap import IVCAP_FALLBACK_STATUS, IVCAP_LEGACY_STATES, IVCAP_STATES
from gateway.adapters.ivcap.states import ivcap_status
from gateway.models import Status

EXPECTED = [
    ("unknown", "in_progress"),
    ("pending", "pending"),
    ("scheduled", "pending"),
    ("executing", "in_progress"),
    ("succeeded", "completed"),
    ("failed", "failed"),
    ("error", "failed"),
]
EXPECTED_LEGACY = [
    ("pending", "pending"),
    ("executing", "in_progress"),
    ("finished", "completed"),
    ("error", "failed"),
]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "status-mapping.md"
ROW = re.compile(r"^\| `([a-z-]+)` \| `([a-z_]+)` \|$", flags=re.MULTILINE)


@pytest.mark.parametrize(("state", "status"), EXPECTED)
def test_ivcap_status_maps_to_its_normalised_status(state: str, status: str) -> None:
    assert ivcap_status(state) == Status(status)


@pytest.mark.parametrize(("state", "status"), EXPECTED_LEGACY)
def test_legacy_status_maps_to_its_normalised_status(state: str, status: str) -> None:
    assert ivcap_status(state, IVCAP_LEGACY_STATES) == Status(status)


@pytest.mark.parametrize("enum", [OrderListItemStatus, OrderStatusRTStatus])
def test_the_table_has_exactly_the_statuses_of_the_real_client(enum: type) -> None:
    # ivcap.md §6: a status the client knows and the table does not would fail here.
    assert set(IVCAP_STATES) == {member.value for member in enum} == {state for state, _ in EXPECTED}


def test_the_legacy_table_has_exactly_the_four_old_statuses() -> None:
    # ivcap.md §9: pending, executing, finished, error.
    assert set(IVCAP_LEGACY_STATES) == {"pending", "executing", "finished", "error"}


@pytest.mark.parametrize("table", [IVCAP_STATES, IVCAP_LEGACY_STATES])
def test_an_unknown_status_takes_the_documented_fallback(table: dict[str, Status]) -> None:
    assert ivcap_status("quarantined", table) == IVCAP_FALLBACK_STATUS == Status.IN_PROGRESS


def _section(title: str) -> str:
    text = DOCS.read_text(encoding="utf-8")
    return (
        text.split("\n## IVCAP", 1)[1]
        .split("\n## ", 1)[0]
        .split(f"\n### {title}", 1)[1]
        .split("\n### ", 1)[0]
    )


def test_docs_tables_match_the_code() -> None:
    assert dict(ROW.findall(_section("Current API"))) == {s: v.value for s, v in IVCAP_STATES.items()}
    assert dict(ROW.findall(_section("Legacy REST shape"))) == {
        s: v.value for s, v in IVCAP_LEGACY_STATES.items()
    }
    fallback = _section("Fallback")
    assert f"`{IVCAP_FALLBACK_STATUS.value}`" in fallback
