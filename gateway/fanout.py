"""Calling several instances concurrently under one budget; one Outcome per instance, never a raise."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from gateway.errors import GatewayError, UpstreamTimeoutError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """What one instance gave: a value, or the GatewayError it failed with; and how long it took."""

    instance: str
    value: T | None
    error: GatewayError | None
    ms: int


async def fan_out(calls: Mapping[str, Callable[[], Awaitable[T]]], budget_s: float) -> dict[str, Outcome[T]]:
    """Run every call concurrently; each is cut at ``budget_s`` and reported as a timeout.

    Only GatewayErrors become failed outcomes: anything else is a bug and propagates.
    """

    async def one(instance: str, call: Callable[[], Awaitable[T]]) -> Outcome[T]:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(budget_s):
                value = await call()
        except TimeoutError:
            error: GatewayError = UpstreamTimeoutError(
                "The provider did not answer within the request's budget.", provider=instance
            )
            return Outcome(instance, None, error, _ms(start))
        except GatewayError as exc:
            return Outcome(instance, None, exc, _ms(start))
        return Outcome(instance, value, None, _ms(start))

    results = await asyncio.gather(*(one(name, call) for name, call in calls.items()))
    return {outcome.instance: outcome for outcome in results}


def _ms(start: float) -> int:
    return int((time.perf_counter() - start) * 1000)
