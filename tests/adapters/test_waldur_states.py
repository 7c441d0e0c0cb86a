"""Every row of the Waldur state table, pinned; the docs table matches the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.adapters.waldur import WALDUR_FALLBACK_STATUS, WALDUR_STATES
from gateway.adapters.waldur.states import waldur_status
from gateway.models import Status

EXPECTED = [
    ("pending-consumer", "pending"),
    ("pending-provider", "pending"),
    ("pending-project", "pending"),
    ("pending-start-date", "pending"),
    ("executing", "in_progress"),
    ("done", "completed"),
    ("erred", "failed"),
    ("canceled", "cancelled"),
    ("rejected", "rejected"),
]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "status-mapping.md"


@pytest.mark.parametrize(("state", "status"), EXPECTED)
def test_waldur_state_maps_to_its_status(state: str, status: str) -> None:
    assert waldur_status(state) == Status(status)


def test_the_table_has_exactly_the_nine_waldur_states() -> None:
    # waldur.md §6: the OrderState enum of the 8.1.3 client.
    assert set(WALDUR_STATES) == {state for state, _ in EXPECTED}


def test_an_unknown_state_takes_the_documented_fallback() -> None:
    assert waldur_status("pending-quantum-review") == WALDUR_FALLBACK_STATUS == Status.PENDING


def test_docs_table_matches_the_code() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Waldur", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| `([a-z_]+)` \|$", section, flags=re.MULTILINE))
    assert rows == {state: status.value for state, status in WALDUR_STATES.items()}
