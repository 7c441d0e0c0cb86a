"""The retry policy's pure parts: Retry-After, backoff with full jitter, the Request-Timeout value."""

from __future__ import annotations

import email.utils

import pytest

from gateway.adapters.retry import backoff_s, parse_retry_after, retry_delay_s
from gateway.errors import InvalidHeaderError
from gateway.middleware.request_timeout import parse_request_timeout
from gateway.settings import RetrySettings

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
POLICY = RetrySettings(attempts=5, base_delay_s=0.1, max_delay_s=1.0, retry_after_cap_s=2.0)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 120 ", 120.0),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),  # in the past: now
        ("Tue, 14 Nov 2023 22:13:50 GMT", 30.0),
        ("Tue, 14 Nov 2023 22:13:50 -0000", 30.0),
    ],
)
def test_retry_after_is_delta_seconds_or_an_http_date(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value", [None, "", "  ", "-1", "1.5", "soon", "1e3", "٣", "99999999999", "Tue, 99 Nov 2023", "x" * 200]
)
def test_an_unreadable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_backoff_is_full_jitter_over_an_exponential_step_capped_at_max_delay() -> None:
    assert [backoff_s(POLICY, n, draw=lambda: 1.0) for n in (1, 2, 3, 4, 5, 9)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    )
    assert backoff_s(POLICY, 3, draw=lambda: 0.0) == 0.0
    assert backoff_s(POLICY, 3, draw=lambda: 0.5) == pytest.approx(0.2)
    assert backoff_s(POLICY, 10_000, draw=lambda: 1.0) == 1.0  # no overflow on absurd counts


def test_retry_after_is_honoured_up_to_its_cap_and_never_shortens_the_backoff() -> None:
    half = 0.5
    assert retry_delay_s(POLICY, 1, None, draw=lambda: half) == pytest.approx(0.05)
    assert retry_delay_s(POLICY, 1, 1.5, draw=lambda: half) == 1.5
    assert retry_delay_s(POLICY, 1, 100.0, draw=lambda: half) == 2.0  # retry_after_cap_s
    assert retry_delay_s(POLICY, 5, 0.0, draw=lambda: 1.0) == 1.0


@pytest.mark.parametrize(
    ("value", "seconds"), [("2", 2.0), ("0.5", 0.5), (".25", 0.25), ("3.", 3.0), (" 1 ", 1.0)]
)
def test_a_request_timeout_is_a_positive_decimal(value: str, seconds: float) -> None:
    assert parse_request_timeout(value, ceiling_s=15.0) == seconds


def test_a_request_timeout_above_the_server_s_is_clamped() -> None:
    assert parse_request_timeout("600", ceiling_s=15.0) == 15.0


@pytest.mark.parametrize(
    "value", ["", "0", "0.000", "-1", "+1", "1e2", "nan", "inf", "Infinity", "1_0", "٣", "1,5", "1" * 40]
)
def test_anything_else_is_an_invalid_header(value: str) -> None:
    with pytest.raises(InvalidHeaderError) as info:
        parse_request_timeout(value, ceiling_s=15.0)
    assert info.value.status_code == 400 and info.value.extensions == {"header": "Request-Timeout"}
