"""X-Request-ID: echo a sane caller value or mint one; store it in the scope and a contextvar."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_RAW_HEADER = HEADER.encode("latin-1")
# Only this shape is echoed: anything else (spaces, CR/LF, quotes, overlong) gets a fresh id.
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:+=/-]{1,128}$")

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)


def request_id_of(scope: Scope) -> str | None:
    """The id assigned to this request, when the middleware has run."""
    state = scope.get("state")
    return state.get("request_id") if isinstance(state, dict) else None


def choose_request_id(given: str | None) -> str:
    if given is not None and SAFE_REQUEST_ID.match(given):
        return given
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = choose_request_id(given_request_id(scope))
        # Mutate the shared scope (not a copy) so the outermost 500 handler can read it too.
        scope.setdefault("state", {})["request_id"] = request_id
        token = current_request_id.set(request_id)
        raw_id = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Replaces one an answer set itself (a problem names the same id).
                headers = [h for h in message.get("headers", ()) if h[0].lower() != _RAW_HEADER]
                headers.append((_RAW_HEADER, raw_id))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)


def given_request_id(scope: Scope) -> str | None:
    """The caller's ``X-Request-ID``, when it sent one."""
    for name, value in scope["headers"]:
        if name == _RAW_HEADER:
            given: str = value.decode("latin-1")
            return given
    return None
