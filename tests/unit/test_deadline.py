"""The request deadline: set, shortened, never lengthened, restored, seen by child tasks."""

from __future__ import annotations

import asyncio
import math

import pytest

from gateway import deadline
from gateway.deadline import capped_remaining, deadline_after, expired, remaining


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_without_a_deadline_remaining_is_the_default_and_a_budget_its_cap() -> None:
    assert deadline.current() is None
    assert remaining() == math.inf and remaining(7.0) == 7.0
    assert capped_remaining(3.0) == 3.0 and capped_remaining(3.0, share=0.5) == 3.0
    assert not expired()


def test_a_deadline_counts_down_and_expires() -> None:
    clock = FakeClock()
    with deadline_after(2.0, now=clock) as at:
        assert at == 1002.0 == deadline.current()
        assert remaining(now=clock) == 2.0
        clock.now += 1.5
        assert remaining(99.0, now=clock) == pytest.approx(0.5)
        assert capped_remaining(10.0, now=clock) == pytest.approx(0.5)
        assert capped_remaining(0.2, now=clock) == 0.2
        assert capped_remaining(10.0, share=0.5, now=clock) == pytest.approx(0.25)
        assert not expired(now=clock)
        clock.now += 1.0
        assert remaining(now=clock) == pytest.approx(-0.5)
        assert capped_remaining(10.0, share=0.5, now=clock) <= 0
        assert expired(now=clock)
    assert deadline.current() is None


def test_a_nested_deadline_shortens_but_never_lengthens() -> None:
    clock = FakeClock()
    with deadline_after(5.0, now=clock):
        with deadline_after(1.0, now=clock) as inner:
            assert inner == 1001.0 == deadline.current()
            with deadline_after(30.0, now=clock) as longer:
                assert longer == 1001.0  # asked for more: keeps the sooner one
        assert deadline.current() == 1005.0  # restored on leaving the block
    assert deadline.current() is None


def test_the_deadline_is_restored_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), deadline_after(1.0):
        raise RuntimeError("boom")
    assert deadline.current() is None


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError), deadline_after(math.nan):
        pass


async def test_tasks_started_under_a_deadline_see_it_and_do_not_leak_theirs() -> None:
    async def child() -> float | None:
        with deadline_after(0.001):
            pass
        return deadline.current()

    with deadline_after(60.0) as at:
        seen = await asyncio.gather(child(), child())
        assert seen == [at, at]
    assert deadline.current() is None


def test_a_new_deadline_replaces_a_sooner_one_and_is_undone_after() -> None:
    with deadline.deadline_after(1.0):
        outer = deadline.current()
        with deadline.new_deadline(100.0):
            assert deadline.remaining() > 50
        assert deadline.current() == outer
