"""send_upstream: which calls are retried, how often, and within which budget (MockTransport)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from gateway.adapters.base import send_upstream
from gateway.deadline import deadline_after
from gateway.errors import UpstreamTimeoutError, UpstreamUnreachableError
from gateway.settings import RetrySettings, WaldurSettings

URL = "http://upstream.test/api/marketplace-orders/"


def limits(attempts: int = 3, *, timeout_s: float = 2.0, connect_timeout_s: float = 0.5) -> WaldurSettings:
    return WaldurSettings(
        kind="waldur",
        base_url="http://upstream.test/api/",  # type: ignore[arg-type]
        token="t",  # type: ignore[arg-type]
        timeout_s=timeout_s,
        connect_timeout_s=connect_timeout_s,
        retry=RetrySettings(attempts=attempts, base_delay_s=0.001, max_delay_s=0.002, retry_after_cap_s=0.01),
    )


class Upstream:
    """A MockTransport answering from a script of statuses or exceptions; records each request."""

    def __init__(self, *script: int | Callable[[httpx.Request], httpx.Response]) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []
        self.client = httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if callable(step):
            return step(request)
        return httpx.Response(step, headers={"Retry-After": "0"} if step in (429, 503) else {})


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def read_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
async def test_safe_methods_are_retried_on_503_until_they_succeed(method: str) -> None:
    upstream = Upstream(503, 502, 200)
    response = await send_upstream(upstream.client, "w", limits(), method, URL)
    assert response.status_code == 200 and len(upstream.requests) == 3


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_after_the_last_attempt_the_response_is_returned_unchanged(status: int) -> None:
    upstream = Upstream(status)
    response = await send_upstream(upstream.client, "w", limits(attempts=4), "GET", URL)
    assert response.status_code == status and len(upstream.requests) == 4


@pytest.mark.parametrize("status", [400, 401, 404, 409, 500, 501])
async def test_other_statuses_are_not_retried(status: int) -> None:
    upstream = Upstream(status, 200)
    response = await send_upstream(upstream.client, "w", limits(), "GET", URL)
    assert response.status_code == status and len(upstream.requests) == 1


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_unsafe_methods_are_not_retried_unless_asked(method: str) -> None:
    upstream = Upstream(503, 200)
    assert (await send_upstream(upstream.client, "w", limits(), method, URL)).status_code == 503
    assert len(upstream.requests) == 1
    upstream = Upstream(503, 200)
    assert (await send_upstream(upstream.client, "w", limits(), method, URL, retry=True)).status_code == 200
    assert len(upstream.requests) == 2


async def test_a_safe_method_is_not_retried_when_told_not_to() -> None:
    upstream = Upstream(503, 200)
    response = await send_upstream(upstream.client, "w", limits(), "GET", URL, retry=False)
    assert response.status_code == 503 and len(upstream.requests) == 1


async def test_a_refused_connection_is_retried_then_unreachable() -> None:
    upstream = Upstream(refuse)
    with pytest.raises(UpstreamUnreachableError):
        await send_upstream(upstream.client, "w", limits(attempts=3), "GET", URL)
    assert len(upstream.requests) == 3


async def test_a_read_timeout_is_never_retried() -> None:
    upstream = Upstream(read_timeout, 200)
    with pytest.raises(UpstreamTimeoutError):
        await send_upstream(upstream.client, "w", limits(), "GET", URL)
    assert len(upstream.requests) == 1


async def test_a_passed_deadline_fails_at_once_without_calling() -> None:
    upstream = Upstream(200)
    with deadline_after(0.0), pytest.raises(UpstreamTimeoutError):
        await send_upstream(upstream.client, "w", limits(), "GET", URL)
    assert upstream.requests == []


async def test_each_attempt_gets_what_is_left_of_the_budget_and_connect_at_most_its_own() -> None:
    upstream = Upstream(503, 200)
    with deadline_after(1.0):
        await send_upstream(upstream.client, "w", limits(timeout_s=5, connect_timeout_s=0.5), "GET", URL)
    first, second = (r.extensions["timeout"] for r in upstream.requests)
    assert 0.9 < first["read"] <= 1.0 and first["connect"] == 0.5
    assert second["read"] < first["read"]
    upstream = Upstream(200)
    with deadline_after(0.2):
        await send_upstream(upstream.client, "w", limits(timeout_s=5, connect_timeout_s=0.5), "GET", URL)
    (only,) = (r.extensions["timeout"] for r in upstream.requests)
    assert only["connect"] == only["read"] <= 0.2


async def test_a_retry_after_longer_than_the_time_left_stops_the_retries() -> None:
    def busy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": "1"})

    upstream = Upstream(busy)
    settings = limits(attempts=5).model_copy(
        update={"retry": RetrySettings(attempts=5, base_delay_s=0.001, retry_after_cap_s=5)}
    )
    start = time.monotonic()
    with deadline_after(0.3):
        response = await send_upstream(upstream.client, "w", settings, "GET", URL)
    assert response.status_code == 503 and len(upstream.requests) == 1
    assert time.monotonic() - start < 0.1
