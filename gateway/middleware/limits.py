"""Limits on what a caller sends: the URL's length (414), the body's size (413) and the pace
at which the body arrives (408). Headers too large or too slow never reach the app: the
server refuses them (``gateway/server.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import ClientTimeoutError, GatewayError, PayloadTooLargeError, UriTooLongError

ErrorRenderer = Callable[[HTTPConnection, GatewayError], Response]


def url_length(scope: Scope) -> int:
    """Bytes of the request target as sent: the raw path and, after ``?``, the query string."""
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    query: bytes = scope.get("query_string", b"")
    return len(raw_path) + (len(query) + 1 if query else 0)


def declared_length(scope: Scope) -> int | None:
    """The ``Content-Length`` the request declares, when it declares a plain number."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


class RequestLimitsMiddleware:
    """Refuses an overlong URL and a body declared too large before anything else runs (no
    key needed to be refused); counts the body as the app reads it, raising a 413 problem
    past ``max_body_bytes`` and a 408 one when a part of it is more than ``body_timeout_s``
    in coming. Once the body is complete, reads (waiting for a disconnect) are not timed."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_url_bytes: int,
        max_body_bytes: int,
        body_timeout_s: float,
        on_error: ErrorRenderer,
    ) -> None:
        self.app = app
        self.max_url_bytes = max_url_bytes
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal: GatewayError | None = None
        if url_length(scope) > self.max_url_bytes:
            refusal = UriTooLongError(
                f"The path and query string may be at most {self.max_url_bytes} bytes long."
            )
        elif (declared_length(scope) or 0) > self.max_body_bytes:
            refusal = self._too_large()
        if refusal is not None:
            response = self.on_error(HTTPConnection(scope), refusal)
            await response(scope, receive, send)
            return

        received = 0
        complete = False

        async def bounded_receive() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout(self.body_timeout_s):
                    message = await receive()
            except TimeoutError:
                raise ClientTimeoutError(
                    f"The request body stopped arriving: each part must come within {self.body_timeout_s:g} s."
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise self._too_large()
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        await self.app(scope, bounded_receive, send)

    def _too_large(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(f"The body may be at most {self.max_body_bytes} bytes.")
