"""Fault injection for simulated upstreams: a plan armed over HTTP, applied by ASGI middleware.

Wrap any simulator with ``Middleware(FaultMiddleware, latency_ms=..., seed=...)``. Then::

    POST   /__sim__/faults   {"status": 503, "retry_after": 2, "count": 3}   arm a plan
    GET    /__sim__/faults                                                   read it
    DELETE /__sim__/faults                                                   clear it

A plan has effects — ``latency_ms`` (delay, then carry on), and at most one of ``status``
(an error body — DRF-shaped unless the simulator passes its own ``failure_body`` — with
``Retry-After`` when ``retry_after`` is given), ``malformed``
(200 with invalid JSON), ``drop`` (headers promising a body, part of it, then the
connection closes), ``wrong_shape`` (200 with valid JSON of a shape no endpoint answers),
``html`` (200 with an HTML page, as a proxy or login page would answer) or ``huge_mb``
(200 with that many MiB of valid JSON, streamed without ``Content-Length``) — plus
``content_type``, which replaces the ``Content-Type`` of whatever is answered (the
simulator's own answer when nothing else is chosen) — and a reach: ``count`` matching
requests (default 1), or each with probability ``rate`` drawn from its own
``random.Random(seed)``; ``path`` restricts it to request paths starting with that prefix.
Arming a plan replaces the previous one. ``FaultController.huge_bytes_sent`` counts the
bytes of ``huge_mb`` answers the client actually took (tests check a reader stopped early).

Paths under ``/__sim__/`` are never delayed, faulted or authenticated.

The middleware also counts the requests it sees (faulted or not), so tests can tell how many
upstream calls the gateway made::

    GET    /__sim__/requests   {"total": 7, "by_route": {"GET /api/marketplace-orders/": 7}}
    DELETE /__sim__/requests   reset the counts
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTROL_PREFIX = "/__sim__/"
FAULTS_PATH = "/__sim__/faults"
REQUESTS_PATH = "/__sim__/requests"
FAILURE_BODY = b'{"detail":"Simulated failure."}'
MALFORMED_BODY = b'[{"uuid": "0b9f3c1e6d2a4f5b8c7d9e0f1a2b3c4d", "state": "pend'
DROPPED_BODY_PROMISED = 65536
DROPPED_BODY_SENT = b'[{"uuid": "'
# Valid JSON that no list, read, create or action of any simulated API answers with.
WRONG_SHAPE_BODY = b'[{"unexpected": "shape", "count": 3}]'
HTML_BODY = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><form></form></body></html>"
HUGE_CHUNK = 64 * 1024
MIB = 1024 * 1024


class FaultPlan(BaseModel):
    """What to do to the next matching requests; the body of ``POST /__sim__/faults``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    latency_ms: int = Field(default=0, ge=0, le=600_000)
    status: int | None = Field(default=None, ge=100, le=599)
    retry_after: int | None = Field(default=None, ge=0)
    malformed: bool = False
    drop: bool = False
    wrong_shape: bool = False
    html: bool = False
    huge_mb: int | None = Field(default=None, ge=1, le=1024)
    content_type: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[\x21-\x7e ]+$")
    count: int | None = Field(default=None, ge=1)
    rate: float | None = Field(default=None, gt=0, le=1)
    path: str | None = Field(default=None, pattern=r"^/")
    seed: int | None = None

    @model_validator(mode="after")
    def _check_consistent(self) -> Self:
        answers = [
            self.status is not None,
            self.malformed,
            self.drop,
            self.wrong_shape,
            self.html,
            self.huge_mb is not None,
        ]
        if sum(answers) > 1:
            raise ValueError("choose at most one of status, malformed, drop, wrong_shape, html and huge_mb")
        if not any(answers) and self.latency_ms == 0 and self.content_type is None:
            raise ValueError(
                "a plan needs latency_ms, content_type, status, malformed, drop, wrong_shape, html or huge_mb"
            )
        if self.retry_after is not None and self.status is None:
            raise ValueError("retry_after needs status")
        if self.count is not None and self.rate is not None:
            raise ValueError("choose one of count and rate")
        return self


@dataclass(slots=True)
class _ArmedPlan:
    plan: FaultPlan
    remaining: int | None
    rng: random.Random
    injected: int = 0


class FaultController:
    """The armed plan of one simulator and the decision, per request, to apply it."""

    def __init__(self, *, seed: int = 0) -> None:
        self._seed = seed
        self._armed: _ArmedPlan | None = None
        self.huge_bytes_sent = 0  # of the last `huge_mb` answer: what the client took of it

    def arm(self, plan: FaultPlan) -> None:
        remaining = None if plan.rate is not None else (plan.count or 1)
        rng = random.Random(self._seed if plan.seed is None else plan.seed)
        self._armed = _ArmedPlan(plan, remaining, rng)

    def clear(self) -> None:
        self._armed = None

    def take(self, path: str) -> FaultPlan | None:
        """The plan to apply to a request for ``path``, counting it, or None."""
        armed = self._armed
        if armed is None or (armed.plan.path and not path.startswith(armed.plan.path)):
            return None
        if armed.remaining is None:
            if armed.rng.random() >= (armed.plan.rate or 0):
                return None
        else:
            armed.remaining -= 1
            if armed.remaining == 0:
                self._armed = None
        armed.injected += 1
        return armed.plan

    def describe(self) -> dict[str, Any]:
        armed = self._armed
        if armed is None:
            return {"plan": None, "remaining": None, "injected": 0}
        return {
            "plan": armed.plan.model_dump(exclude_none=True),
            "remaining": armed.remaining,
            "injected": armed.injected,
        }


class FaultMiddleware:
    """Pure-ASGI middleware: serves the control path, adds latency, injects armed faults."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        latency_ms: int = 0,
        seed: int = 0,
        controller: FaultController | None = None,
        failure_body: bytes = FAILURE_BODY,
    ) -> None:
        self.app = app
        self.latency_ms = latency_ms
        self.controller = controller if controller is not None else FaultController(seed=seed)
        self.failure_body = failure_body  # the body of a `status` fault, in the upstream's error shape
        self.requests: Counter[str] = Counter()  # "METHOD /path" -> requests seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == FAULTS_PATH:
            await self._control(scope, receive, send)
            return
        if path == REQUESTS_PATH:
            await self._counts(scope, send)
            return
        if path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        self.requests[f"{scope['method']} {path}"] += 1
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        plan = self.controller.take(path)
        if plan is None:
            await self.app(scope, receive, send)
            return
        if plan.latency_ms:
            await asyncio.sleep(plan.latency_ms / 1000)
        if plan.content_type is not None:
            send = _relabelled(send, plan.content_type.encode("latin-1"))
        if plan.status is not None:
            extra = [] if plan.retry_after is None else [(b"retry-after", b"%d" % plan.retry_after)]
            await _answer(send, plan.status, self.failure_body, extra)
        elif plan.malformed:
            await _answer(send, 200, MALFORMED_BODY)
        elif plan.drop:
            await _drop(send)
        elif plan.wrong_shape:
            await _answer(send, 200, WRONG_SHAPE_BODY)
        elif plan.html:
            await _answer(send, 200, HTML_BODY, content_type=b"text/html; charset=utf-8")
        elif plan.huge_mb is not None:
            await self._huge(receive, send, plan.huge_mb)
        else:
            await self.app(scope, receive, send)

    async def _huge(self, receive: Receive, send: Send, mib: int) -> None:
        """``mib`` MiB of one valid JSON array, in chunks, without Content-Length (chunked):
        a client must count to know it is too much. Stops when the client goes away."""
        self.controller.huge_bytes_sent = 0
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        row = b'{"pad": "' + b"x" * 100 + b'"},'
        chunk = row * (HUGE_CHUNK // len(row))
        sent = 0
        try:
            await send({"type": "http.response.body", "body": b"[", "more_body": True})
            while sent + len(chunk) < mib * MIB:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await asyncio.sleep(0)  # uvicorn drops what is sent after a disconnect: look
                if gone.is_set():
                    return
                sent += len(chunk)
                self.controller.huge_bytes_sent = sent
            await send({"type": "http.response.body", "body": b'{"pad": ""}]'})
        finally:
            watcher.cancel()

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "GET":
            await _answer_json(send, 200, self.controller.describe())
        elif method == "DELETE":
            self.controller.clear()
            await _answer(send, 204, b"", content_type=None)
        elif method == "POST":
            body = await _read_body(receive)
            try:
                plan = FaultPlan.model_validate_json(body or b"{}")
            except ValidationError as exc:
                problems = [
                    {"loc": list(error["loc"]), "msg": error["msg"]}
                    for error in exc.errors(include_url=False, include_context=False)
                ]
                await _answer_json(send, 400, {"detail": "Invalid fault plan.", "errors": problems})
                return
            self.controller.arm(plan)
            await _answer_json(send, 200, self.controller.describe())
        else:
            detail = {"detail": f'Method "{method}" not allowed.'}
            await _answer_json(send, 405, detail, [(b"allow", b"GET, POST, DELETE")])

    async def _counts(self, scope: Scope, send: Send) -> None:
        method = scope["method"]
        if method == "GET":
            counts = {"total": sum(self.requests.values()), "by_route": dict(self.requests)}
            await _answer_json(send, 200, counts)
        elif method == "DELETE":
            self.requests.clear()
            await _answer(send, 204, b"", content_type=None)
        else:
            detail = {"detail": f'Method "{method}" not allowed.'}
            await _answer_json(send, 405, detail, [(b"allow", b"GET, DELETE")])


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    content_type: bytes | None = b"application/json",
) -> None:
    raw_headers = [(b"content-length", b"%d" % len(body)), *(headers or [])]
    if content_type is not None:
        raw_headers.append((b"content-type", content_type))
    start: Message = {"type": "http.response.start", "status": status, "headers": raw_headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})


async def _answer_json(
    send: Send, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _answer(send, status, json.dumps(payload).encode(), headers)


def _relabelled(send: Send, content_type: bytes) -> Send:
    """``send``, with the answer's Content-Type replaced by ``content_type``."""

    async def relabel(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-type"]
            message = {**message, "headers": [*headers, (b"content-type", content_type)]}
        await send(message)

    return relabel


async def _drop(send: Send) -> None:
    # Promise a long body, send a little, then return without finishing: the server
    # (uvicorn) closes the connection, and the client sees it break mid-body.
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % DROPPED_BODY_PROMISED),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": DROPPED_BODY_SENT, "more_body": True})
