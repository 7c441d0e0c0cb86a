"""The breaker's sliding window: failures that left the window no longer count."""

from __future__ import annotations

from gateway.settings import BreakerSettings
from gateway.stack import CircuitBreaker


def test_failures_older_than_the_window_no_longer_count() -> None:
    now = [0.0]
    breaker = CircuitBreaker(
        BreakerSettings(failure_rate=0.5, window_s=10, min_calls=4, open_s=5), clock=lambda: now[0]
    )
    for _ in range(3):
        breaker.record(failed=True, probe=False)  # 3 of 3: too few calls to judge
    assert breaker.state == "closed"
    now[0] = 11.0  # those three have left the window
    for failed in (False, False, False, True):
        breaker.record(failed=failed, probe=False)
    assert breaker.state == "closed"  # 1 of 4 within the window (not 4 of 7)
    now[0] = 12.0
    breaker.record(failed=True, probe=False)
    assert breaker.state == "closed"  # 2 of 5
    breaker.record(failed=True, probe=False)
    assert breaker.state == "open"  # 3 of 6: the rate


def test_a_successful_probe_starts_the_count_afresh() -> None:
    now = [0.0]
    breaker = CircuitBreaker(
        BreakerSettings(failure_rate=0.5, window_s=60, min_calls=3, open_s=5), clock=lambda: now[0]
    )
    for _ in range(3):
        breaker.record(failed=True, probe=False)
    assert breaker.state == "open"
    now[0] = 6.0
    assert breaker.admit("x") is True  # the half-open probe
    breaker.record(failed=False, probe=True)
    assert breaker.state == "closed"
    for failed in (True, False, False):
        breaker.record(failed=failed, probe=False)
    assert breaker.state == "closed"  # 1 of 3 counted since the probe, not 4 of 6
