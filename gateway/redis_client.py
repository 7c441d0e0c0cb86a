"""The one way the gateway opens a Redis client (idempotency records, read cache, rate limits)."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

# Short enough that an unreachable Redis costs a request about a second before the store's
# fallback (or its 503) takes over; long enough that a loaded machine still connects to a
# local Redis. One immediate retry replaces a pooled connection Redis dropped (a restart).
CONNECT_TIMEOUT_S = 1.0
COMMAND_TIMEOUT_S = 1.0


def redis_client(url: str) -> Redis:
    return Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=COMMAND_TIMEOUT_S,
        retry=Retry(NoBackoff(), 1),
    )
