"""Retrying upstream calls: what is retried, Retry-After, backoff with full jitter, the deadline.

The policy (docs/decisions.md, "Retries and deadlines"): retry only what the upstream did not
act on — a failed connection, or 429/502/503/504 — never a timeout (the call may still be
running upstream) and never another status. Wait ``base * 2**(n-1)`` with full jitter, at
most ``max_delay_s``; an upstream's ``Retry-After`` on 429/503 is waited for, up to
``retry_after_cap_s``. Never sleep past ``end``: when the next wait plus a minimal attempt
would pass it, stop and hand back the last outcome, response or error, unchanged.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Protocol, TypeVar, cast

import httpx
from tenacity import AsyncRetrying, RetryCallState

from gateway.errors import UpstreamError, UpstreamTimeoutError, UpstreamUnreachableError
from gateway.settings import RetrySettings

T = TypeVar("T")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})  # the upstream (or a proxy) did not act on it
RETRY_AFTER_STATUSES = frozenset({429, 503})  # RFC 9110 §10.2.3: where Retry-After means "come back"
# Not worth starting an attempt with less time than this left before the deadline.
MIN_ATTEMPT_S = 0.05
_DELTA_SECONDS = re.compile(r"^[0-9]{1,10}$")
_MAX_RETRY_AFTER_LENGTH = 64

log = logging.getLogger("gateway.adapters.retry")

RetryPredicate = Callable[[RetryCallState], bool]  # given the attempt's outcome: try again?


class CallLimits(Protocol):
    """What one upstream call needs from its instance's settings (every provider kind has it)."""

    @property
    def timeout_s(self) -> float: ...

    @property
    def connect_timeout_s(self) -> float: ...

    @property
    def retry(self) -> RetrySettings: ...


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` value asks for: delta-seconds or an HTTP-date (``now``: wall
    clock, seconds since the epoch). A date in the past is 0; absent or unreadable is None."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > _MAX_RETRY_AFTER_LENGTH:
        return None
    if _DELTA_SECONDS.match(text):
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": RFC 5322's "UTC, zone unknown"; HTTP-dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_s(policy: RetrySettings, attempt: int, draw: Callable[[], float] = random.random) -> float:
    """The wait after failed attempt ``attempt`` (1-based): full jitter over the exponential step."""
    step = min(policy.max_delay_s, policy.base_delay_s * 2.0 ** min(attempt - 1, 32))
    return draw() * step


def retry_delay_s(
    policy: RetrySettings, attempt: int, retry_after: float | None, draw: Callable[[], float] = random.random
) -> float:
    """The backoff, or the upstream's Retry-After (capped) when that is longer."""
    delay = backoff_s(policy, attempt, draw)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.retry_after_cap_s))
    return delay


def retryable_response(state: RetryCallState) -> bool:
    """For one HTTP call: a failed connection, or a response with a status in RETRY_STATUSES."""
    outcome = state.outcome
    if outcome is None:
        return False
    if outcome.failed:
        return isinstance(outcome.exception(), UpstreamUnreachableError)
    result = outcome.result()
    return isinstance(result, httpx.Response) and result.status_code in RETRY_STATUSES


def failed_with(statuses: frozenset[int], *, unreachable: bool) -> RetryPredicate:
    """For a whole adapter operation: it raised an UpstreamError with one of ``statuses`` (or,
    with ``unreachable``, could not connect). A timeout never qualifies."""

    def check(state: RetryCallState) -> bool:
        outcome = state.outcome
        if outcome is None or not outcome.failed:
            return False
        error = outcome.exception()
        if isinstance(error, UpstreamTimeoutError):
            return False
        if isinstance(error, UpstreamUnreachableError):
            return unreachable
        return isinstance(error, UpstreamError) and error.upstream_status in statuses

    return check


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    policy: RetrySettings,
    *,
    end: float,
    instance: str,
    retry_on: RetryPredicate,
    draw: Callable[[], float] = random.random,
) -> T:
    """Run ``attempt`` up to ``policy.attempts`` times while ``retry_on`` says so and time is
    left before ``end`` (``time.monotonic()``); return or raise the last outcome unchanged."""

    def wait(state: RetryCallState) -> float:
        return retry_delay_s(policy, state.attempt_number, _retry_after(state), draw)

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        # tenacity computes the wait before asking stop (>= 8.3): upcoming_sleep is the next wait.
        if time.monotonic() + state.upcoming_sleep + MIN_ATTEMPT_S > end:
            log.info(
                "not retrying upstream call: instance=%s attempt=%d after=%s (deadline)",
                instance,
                state.attempt_number,
                _describe(state),
            )
            return True
        return False

    def before_sleep(state: RetryCallState) -> None:
        log.info(
            "retrying upstream call: instance=%s attempt=%d after=%s wait_s=%.3f",
            instance,
            state.attempt_number,
            _describe(state),
            state.upcoming_sleep,
        )

    async def run() -> T:  # a coroutine function, which tenacity awaits (a lambda it would not)
        return await attempt()

    retrying = AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=retry_on,
        before_sleep=before_sleep,
        retry_error_callback=_last_outcome,
    )
    return cast(T, await retrying(run))


def _last_outcome(state: RetryCallState) -> object:
    assert state.outcome is not None
    return state.outcome.result()  # the last response, or raises the last error


def _retry_after(state: RetryCallState) -> float | None:
    outcome = state.outcome
    if outcome is None or outcome.failed:
        return None
    result = outcome.result()
    if isinstance(result, httpx.Response) and result.status_code in RETRY_AFTER_STATUSES:
        return parse_retry_after(result.headers.get("retry-after"))
    return None


def _describe(state: RetryCallState) -> str:
    # The status or the error's class only: never a URL (it may carry credentials) or a header.
    outcome = state.outcome
    if outcome is None:
        return "nothing"
    if outcome.failed:
        return type(outcome.exception()).__name__
    result = outcome.result()
    return f"status {result.status_code}" if isinstance(result, httpx.Response) else "a result"
