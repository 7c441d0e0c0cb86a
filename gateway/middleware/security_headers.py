"""Security headers on every answer: ``nosniff`` and framing rules always, and a ``Cache-Control``
where the answer set none — ``no-store`` on problems, ``private, no-cache`` on answers to a
request that presented a key. An answer's own ``Cache-Control`` (the read cache's ``private,
max-age=N``, the export's ``private, no-store``) or ``Content-Security-Policy`` (``/docs``) is
never replaced."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# No answer of the API is a page to render or frame; /docs sets a policy of its own.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
PROBLEM_CACHE_CONTROL = "no-store"  # an error is about one moment: nobody keeps it
# As routes/rendering.py's PRIVATE_REVALIDATE: only the caller's own cache, revalidated.
AUTHENTICATED_CACHE_CONTROL = "private, no-cache"
_CREDENTIAL_HEADERS = (b"authorization", b"x-api-key")

ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


def add_security_headers(headers: MutableHeaders, *, authenticated: bool) -> None:
    """Set what the answer lacks of the headers above; never replace what it set itself."""
    for name, value in ALWAYS.items():
        headers.setdefault(name, value)
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "text/html":
        headers.setdefault("Content-Security-Policy", API_CONTENT_SECURITY_POLICY)
    if "cache-control" not in headers:
        if media_type == "application/problem+json":
            headers["Cache-Control"] = PROBLEM_CACHE_CONTROL
        elif authenticated:
            headers["Cache-Control"] = AUTHENTICATED_CACHE_CONTROL


def presents_credentials(scope: Scope) -> bool:
    """Whether the request carries a key (valid or not): its answer is for that caller only."""
    return any(name in _CREDENTIAL_HEADERS for name, _ in scope.get("headers", ()))


class SecurityHeadersMiddleware:
    """Outermost of the gateway's middleware, so its own refusals (401, 414, 429...) get the
    headers too. The bare 500 of an unexpected error is rendered outside every middleware:
    ``secured`` wraps that handler."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authenticated = presents_credentials(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_security_headers(MutableHeaders(scope=message), authenticated=authenticated)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def secured(handler: ExceptionHandler) -> ExceptionHandler:
    """An exception handler whose answers carry the security headers (for the 500 handler,
    which Starlette runs outside every middleware)."""

    async def handle(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        add_security_headers(response.headers, authenticated=presents_credentials(request.scope))
        return response

    return handle
