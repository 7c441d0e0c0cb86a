"""The Redis idempotency store fails closed, and fast, when Redis is unreachable."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from gateway.errors import StoreUnavailableError
from gateway.idempotency import IdempotencyRecord, RedisIdempotencyStore
from tests.support.redis_server import restartable_redis

RECORD = IdempotencyRecord(fingerprint="f", state="in_flight")


async def test_every_method_raises_store_unavailable_while_redis_is_down(tmp_path: Path) -> None:
    with restartable_redis(tmp_path) as redis:
        store = RedisIdempotencyStore(redis.url)
        try:
            assert await store.claim("k", RECORD, 60) is None  # a pooled connection, then...
            redis.kill()
            started = time.monotonic()
            calls: list[Callable[[], Awaitable[object]]] = [
                lambda: store.claim("k", RECORD, 60),
                lambda: store.replace("k", RECORD, RECORD, 60),
                lambda: store.put("k", RECORD, 60),
                lambda: store.release("k"),
            ]
            for call in calls:
                with pytest.raises(StoreUnavailableError) as caught:
                    await call()
                assert caught.value.status_code == 503 and caught.value.headers == {"Retry-After": "1"}
                assert caught.value.__cause__ is not None  # the Redis error, for the log
            assert time.monotonic() - started < 2
            redis.start()  # back (empty): the same store works again
            assert await store.claim("k", RECORD, 60) is None
        finally:
            await store.close()
