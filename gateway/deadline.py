"""The current request's deadline: an absolute time on the monotonic clock, in a contextvar.

The request-timeout middleware sets it once per request; every layer below reads how much
time is left with :func:`remaining` and spends no more. A deadline can be shortened for a
stretch of code with :func:`deadline_after`, never lengthened: nested budgets only shrink.
Tasks started during the request (fan-out) copy the context, so they see it too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Upstream calls get this share of the time left (or of the whole request): the rest is for
# merging and answering (Lura gives its backends 85 % of an endpoint's timeout likewise).
UPSTREAM_SHARE = 0.85

_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)


def current() -> float | None:
    """The absolute deadline (``time.monotonic()`` scale) in force here, or None."""
    return _deadline.get()


def remaining(default: float = math.inf, *, now: Callable[[], float] = time.monotonic) -> float:
    """Seconds left to the deadline (zero or less once it has passed); ``default`` without one."""
    deadline = _deadline.get()
    return default if deadline is None else deadline - now()


def expired(*, now: Callable[[], float] = time.monotonic) -> bool:
    """Whether a deadline is in force and has passed."""
    return remaining(math.inf, now=now) <= 0


def capped_remaining(cap_s: float, *, share: float = 1.0, now: Callable[[], float] = time.monotonic) -> float:
    """A budget for one piece of work: ``cap_s``, or ``share`` of the time left if that is less.

    Zero or less when the deadline has passed; ``cap_s`` when no deadline is in force.
    """
    left = remaining(math.inf, now=now)
    return cap_s if math.isinf(left) else min(cap_s, left * share if left > 0 else left)


@contextmanager
def deadline_after(seconds: float, *, now: Callable[[], float] = time.monotonic) -> Iterator[float]:
    """Run the block under a deadline ``seconds`` from now, or the existing one if it is sooner.

    Yields the deadline in force inside the block; the previous one is restored on exit.
    """
    if math.isnan(seconds):
        raise ValueError("a deadline needs a number of seconds")
    wanted = now() + seconds
    existing = _deadline.get()
    deadline = wanted if existing is None else min(existing, wanted)
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


@contextmanager
def new_deadline(seconds: float, *, now: Callable[[], float] = time.monotonic) -> Iterator[float]:
    """Run the block under a deadline ``seconds`` from now, replacing the one in force.

    For work that is a request of its own inside a longer one (each page of a streamed
    export); everywhere else budgets only shrink (:func:`deadline_after`).
    """
    if math.isnan(seconds):
        raise ValueError("a deadline needs a number of seconds")
    deadline = now() + seconds
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)
