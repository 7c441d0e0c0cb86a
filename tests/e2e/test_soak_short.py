"""The soak (tests/support/soak.py), short: ~20 s of listing walks, reads, keyed creates and
cancels through one gateway process while faults come and go on the three simulators.

The long run (a few minutes; its figures are in the README, "Reliability"):

    .venv/bin/python -m tests.support.soak --minutes 5
"""

from __future__ import annotations

import os

import pytest

from tests.support.soak import run_soak

pytestmark = pytest.mark.e2e
DURATION_S = float(os.environ.get("SOAK_SECONDS", "20"))


def test_a_short_soak_under_random_faults_loses_nothing_and_duplicates_nothing() -> None:
    # RSS: in 20 s the gateway is still warming up (its decoded-read memo fills), so only a gross
    # leak is caught here; the long run holds it to 50 MB.
    report = run_soak(DURATION_S, workers=6, seed=int(os.environ.get("SOAK_SEED", "1")), rss_growth_mb=150)
    print(report.figures())
    assert not report.violations, report.figures()
    assert not report.duplicates, report.figures()
    created = [order for order in report.keys.values() if order]
    assert created and report.found == len(created)
    assert report.gained_at_sims == len(created)  # one order per key, none made twice
    assert report.faults_armed >= 1  # a loaded machine may fit only a few fault changes in 20 s
    assert any(outcome.status in (502, 503, 504) for outcome in report.outcomes)  # the faults bit
