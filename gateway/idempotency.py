"""Idempotency-Key records (IETF httpapi draft): per caller and key, in memory or in Redis.

A record is claimed atomically before the work starts (``in_flight``), then replaced by the
answer (``done``) or, when an upstream create timed out after it may have been accepted, by
``uncertain`` — a retry then looks the order up before creating. A failure that never
reached the upstream releases the key, so a retry simply runs again. Without its store
(Redis unreachable) a keyed write fails closed: ``StoreUnavailableError``, 503.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson
from cachetools import TLRUCache
from redis.exceptions import RedisError

from gateway.errors import StoreUnavailableError

IN_FLIGHT_TTL_S = 120  # a crashed replica's claim lapses after this
RECORD_OVERHEAD_BYTES = 400  # a record's key, entry object and slot in the map, beyond its bytes
DROP_WARNING_EVERY_S = 60.0
log = logging.getLogger(__name__)
State = Literal["in_flight", "done", "uncertain"]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    fingerprint: str  # what the request was (method, path, canonical body)
    state: State
    response: StoredResponse | None = None

    def encode(self) -> bytes:
        data: dict[str, Any] = {"f": self.fingerprint, "s": self.state}
        if self.response is not None:
            data["r"] = {
                "status": self.response.status,
                "headers": self.response.headers,
                "body": base64.b64encode(self.response.body).decode("ascii"),
            }
        return orjson.dumps(data)

    @classmethod
    def decode(cls, raw: bytes) -> IdempotencyRecord:
        data = orjson.loads(raw)
        stored = data.get("r")
        response = None
        if stored is not None:
            response = StoredResponse(
                status=int(stored["status"]),
                headers=tuple((str(k), str(v)) for k, v in stored["headers"]),
                body=base64.b64decode(stored["body"]),
            )
        return cls(fingerprint=str(data["f"]), state=data["s"], response=response)


class IdempotencyStore(Protocol):
    """Where records live; every method is atomic with respect to other replicas, and raises
    ``StoreUnavailableError`` when the store cannot be reached."""

    async def claim(self, key: str, record: IdempotencyRecord, ttl_s: int) -> IdempotencyRecord | None:
        """Store ``record`` if the key is free and return None; else return what is there."""
        ...

    async def replace(
        self, key: str, expected: IdempotencyRecord, record: IdempotencyRecord, ttl_s: int
    ) -> bool:
        """Swap ``expected`` for ``record``; False when the key holds something else now."""
        ...

    async def put(self, key: str, record: IdempotencyRecord, ttl_s: int) -> None: ...

    async def release(self, key: str) -> None: ...

    async def close(self) -> None: ...


def record_key(principal: str, idempotency_key: str) -> str:
    """Keys are scoped per API key: one caller's key never matches another's."""
    digest = hashlib.sha256(f"{principal}\x00{idempotency_key}".encode()).hexdigest()
    return f"ogw:idem:{digest}"


def order_marker(principal: str, idempotency_key: str) -> str:
    """The token kept on an order created under this key, stable across retries."""
    return "ogw-" + hashlib.sha256(f"marker\x00{principal}\x00{idempotency_key}".encode()).hexdigest()[:20]


@dataclass(slots=True)
class _Entry:
    raw: bytes
    expires_at: float


class _Records(TLRUCache[str, _Entry]):
    """Records until their expiry, least recently used dropped first past the byte bound;
    counts what was dropped before its time (``popitem`` runs only to make room)."""

    dropped = 0

    def popitem(self) -> tuple[str, _Entry]:
        self.dropped += 1
        return super().popitem()


class MemoryIdempotencyStore:
    """One process's records (cachetools), bounded in bytes; right for a single replica.

    Past ``max_bytes`` the least recently used records are dropped before their time: a retry
    under such a key runs again. That is logged (at most once a minute), so an operator knows
    to raise the bound or move the records to Redis."""

    def __init__(
        self, *, max_bytes: int = 32 * 1024 * 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries = _Records(
            maxsize=max_bytes,
            ttu=lambda _key, entry, _now: entry.expires_at,
            timer=clock,
            getsizeof=lambda entry: len(entry.raw) + RECORD_OVERHEAD_BYTES,
        )
        self._clock = clock
        self._warned_at: float | None = None

    # No awaits inside these methods: on one event loop each runs without interleaving.
    async def claim(self, key: str, record: IdempotencyRecord, ttl_s: int) -> IdempotencyRecord | None:
        existing = self._entries.get(key)
        if existing is not None:
            return IdempotencyRecord.decode(existing.raw)
        self._store(key, record, ttl_s)
        return None

    async def replace(
        self, key: str, expected: IdempotencyRecord, record: IdempotencyRecord, ttl_s: int
    ) -> bool:
        existing = self._entries.get(key)
        if existing is None or existing.raw != expected.encode():
            return False
        self._store(key, record, ttl_s)
        return True

    async def put(self, key: str, record: IdempotencyRecord, ttl_s: int) -> None:
        self._store(key, record, ttl_s)

    def _store(self, key: str, record: IdempotencyRecord, ttl_s: int) -> None:
        dropped = self._entries.dropped
        self._entries[key] = _Entry(record.encode(), self._clock() + ttl_s)
        if self._entries.dropped > dropped:
            self._note_dropped()

    def _note_dropped(self) -> None:
        now = self._clock()
        if self._warned_at is None or now - self._warned_at >= DROP_WARNING_EVERY_S:
            self._warned_at = now
            log.warning(
                "idempotency records dropped before their expiry (%d so far): raise "
                "idempotency.max_bytes or keep the records in Redis",
                self._entries.dropped,
            )

    async def release(self, key: str) -> None:
        self._entries.pop(key, None)

    async def close(self) -> None:
        self._entries.clear()


# Compare-and-set in one round trip, so two replicas cannot both take over a record.
_REPLACE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    """Any Redis failure → StoreUnavailableError: without the store a keyed write fails closed
    (503) instead of running unguarded and perhaps twice."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise StoreUnavailableError("Idempotency records are unavailable; retry shortly.") from exc


class RedisIdempotencyStore:
    """Records shared by every replica through one Redis (``SET NX EX`` claims)."""

    def __init__(self, url: str) -> None:
        from gateway.redis_client import redis_client

        self._redis = redis_client(url)
        self._replace = self._redis.register_script(_REPLACE_SCRIPT)

    async def claim(self, key: str, record: IdempotencyRecord, ttl_s: int) -> IdempotencyRecord | None:
        with _store_errors():
            for _ in range(3):  # the holder may expire between SET NX and GET: try again
                if await self._redis.set(key, record.encode(), nx=True, ex=ttl_s):
                    return None
                raw = await self._redis.get(key)
                if raw is not None:
                    return IdempotencyRecord.decode(raw if isinstance(raw, bytes) else raw.encode())
        raise RuntimeError("idempotency key churned three times in a row")

    async def replace(
        self, key: str, expected: IdempotencyRecord, record: IdempotencyRecord, ttl_s: int
    ) -> bool:
        with _store_errors():
            return bool(await self._replace(keys=[key], args=[expected.encode(), record.encode(), ttl_s]))

    async def put(self, key: str, record: IdempotencyRecord, ttl_s: int) -> None:
        with _store_errors():
            await self._redis.set(key, record.encode(), ex=ttl_s)

    async def release(self, key: str) -> None:
        with _store_errors():
            await self._redis.delete(key)

    async def close(self) -> None:
        await self._redis.aclose()
