"""Per-key rate limits: one token per request, ``RateLimit-*`` headers on every answer, 429.

Runs after authentication (buckets are per key). Anonymous requests pass untouched: the
endpoints answer them 401. The header fields follow draft-ietf-httpapi-ratelimit-headers-06
(``RateLimit-Limit``, ``-Remaining``, ``-Reset`` and ``-Policy``); that draft defines only
``w`` as a policy parameter (others are comments, to be prefixed ``x-<vendor>``), so the burst
is not spelled out: the limit is the bucket's capacity.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import GatewayError, RateLimitedError
from gateway.principal import Principal
from gateway.ratelimit import Decision, RateLimiter
from gateway.settings import RateLimitSettings
from gateway.telemetry import note_rate_limited

# How a refusal is rendered (``problems.problem_response``, passed in by ``app.py``: the
# problem renderer sits above this layer).
Renderer = Callable[[HTTPConnection, GatewayError], Response]


def rate_limit_headers(decision: Decision, policy: RateLimitSettings) -> list[tuple[bytes, bytes]]:
    """The ``RateLimit-*`` fields of an answer, as raw ASGI header pairs."""
    return [
        (b"ratelimit-limit", b"%d" % decision.limit),
        (b"ratelimit-remaining", b"%d" % decision.remaining),
        (b"ratelimit-reset", b"%d" % decision.reset_s),
        (b"ratelimit-policy", b"%d;w=%d" % (policy.capacity, math.ceil(policy.window_s))),
    ]


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        policy_for: Callable[[str], RateLimitSettings],
        render: Renderer,
    ) -> None:
        self.app = app
        self._limiter = limiter
        self._policy_for = policy_for
        self._render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("user") if scope["type"] == "http" else None
        if not isinstance(principal, Principal):
            await self.app(scope, receive, send)
            return
        policy = self._policy_for(principal.name)
        decision = await self._limiter.take(principal.name, policy)
        headers = rate_limit_headers(decision, policy)
        if not decision.allowed:
            note_rate_limited(principal.name)
            error = RateLimitedError(
                f"This API key may make {policy.requests} requests per {policy.window_s:g} s "
                f"(bursts up to {policy.capacity}); retry in {decision.retry_after_s} s.",
                retry_after=decision.retry_after_s,
            )
            response = self._render(HTTPConnection(scope), error)
            response.raw_headers.extend(headers)
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A new list: the one given may be a response's own, which may be sent again.
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
