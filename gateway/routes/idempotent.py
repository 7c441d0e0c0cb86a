"""Running a write under an ``Idempotency-Key``: claim, replay, conflict, uncertain outcome."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import (
    GatewayError,
    IdempotencyConflictError,
    InvalidBodyError,
    OutcomeUncertainError,
    RequestInProgressError,
    StoreUnavailableError,
)
from gateway.idempotency import (
    IN_FLIGHT_TTL_S,
    IdempotencyRecord,
    IdempotencyStore,
    StoredResponse,
    order_marker,
    record_key,
)
from gateway.principal import Principal
from gateway.problems import problem_response
from gateway.telemetry import note_idempotent_replay

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("content-type", "location")
log = logging.getLogger(__name__)

# (marker, recover) → the response. ``recover`` is True on a retry after an uncertain create.
Operation = Callable[[str, bool], Awaitable[Response]]


def request_fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.url.path.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


async def run_idempotent(
    request: Request,
    principal: Principal,
    body: bytes,
    operation: Operation,
    *,
    store: IdempotencyStore,
    ttl_s: int,
    fallback_marker: str,
) -> Response:
    """Run ``operation`` at most once per (caller, key) and replay its answer afterwards.

    The store failing before the operation (claim, replace) fails the request closed: 503
    ``store-unavailable``, nothing was done. Failing after it: see ``_settle``.
    """
    key = request.headers.get(HEADER)
    if key is None:
        return await operation(fallback_marker, False)
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidBodyError(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.")
    slot = record_key(principal.name, key)
    fingerprint = request_fingerprint(request, body)
    claim = IdempotencyRecord(fingerprint=fingerprint, state="in_flight")
    existing = await store.claim(slot, claim, IN_FLIGHT_TTL_S)
    recover = False
    if existing is not None:
        if existing.fingerprint != fingerprint:
            raise IdempotencyConflictError("This Idempotency-Key was used with a different request.")
        if existing.state == "done" and existing.response is not None:
            return _replay(existing.response)
        if existing.state == "in_flight" or not await store.replace(slot, existing, claim, IN_FLIGHT_TTL_S):
            raise RequestInProgressError(
                "A request with this Idempotency-Key is still in progress; retry later."
            )
        recover = True  # the earlier attempt ended uncertain: look before creating again
    try:
        response = await operation(order_marker(principal.name, key), recover)
    except OutcomeUncertainError as exc:
        uncertain = IdempotencyRecord(fingerprint=fingerprint, state="uncertain")
        await _settle(store.put(slot, uncertain, ttl_s), "marked uncertain")
        return problem_response(request, exc)
    except GatewayError as exc:
        if exc.status_code >= 500:
            # Nothing was done upstream for sure: let a retry run.
            await _settle(store.release(slot), "released")
            raise
        response = problem_response(request, exc)
    except BaseException:
        await _settle(store.release(slot), "released")
        raise
    done = IdempotencyRecord(fingerprint=fingerprint, state="done", response=_stored(response))
    await _settle(store.put(slot, done, ttl_s), "stored")
    return response


async def _settle(step: Awaitable[None], what: str) -> None:
    """Record the outcome of an operation that has already run; a store failure is logged.

    The operation's own answer is the truth, so the caller gets it even when the store fails
    now: a 503 would say "not done" about a write that happened and invite a retry that could
    do it twice. The key then stays claimed (``in_flight``) until ``IN_FLIGHT_TTL_S`` lapses,
    so a retry within that time is 409 ``request-in-progress``, not a second run.
    """
    try:
        await step
    except StoreUnavailableError:
        log.error("idempotency record not %s: the store is unavailable", what, exc_info=True)


def _stored(response: Response) -> StoredResponse:
    headers = tuple((name, value) for name, value in response.headers.items() if name in KEPT_HEADERS)
    return StoredResponse(status=response.status_code, headers=headers, body=bytes(response.body))


def _replay(stored: StoredResponse) -> Response:
    note_idempotent_replay()
    response = Response(stored.body, status_code=stored.status, headers=dict(stored.headers))
    response.headers[REPLAYED_HEADER] = "true"
    return response
