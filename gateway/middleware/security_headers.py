"""Security headers on every answer: ``nosniff`` and framing rules always, and a ``Cache-Control``
where the answer set none — ``no-store`` on problems, ``private, no-cache`` on answers to a
request that presented a key. An answer's own ``Cache-Control`` (the read cache's ``private,
max-age=N``, the export's ``private, no-store``) or ``Content-Security-Policy`` (``/docs``) is
never replaced."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

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

# The same as raw ASGI header pairs, built once: they are added to every answer.
_ALWAYS_RAW = tuple(
    (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in ALWAYS.items()
)
_CSP = b"content-security-policy"
_CACHE_CONTROL = b"cache-control"
_CONTENT_TYPE = b"content-type"
_API_CSP_RAW = (_CSP, API_CONTENT_SECURITY_POLICY.encode("latin-1"))
_PROBLEM_CACHE_RAW = (_CACHE_CONTROL, PROBLEM_CACHE_CONTROL.encode("latin-1"))
_AUTHENTICATED_CACHE_RAW = (_CACHE_CONTROL, AUTHENTICATED_CACHE_CONTROL.encode("latin-1"))

RawHeaders = Iterable[tuple[bytes, bytes]]
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


def media_type_of(headers: RawHeaders) -> bytes:
    """The answer's media type (its first ``Content-Type`` without parameters), lower-case."""
    for name, value in headers:
        if name.lower() == _CONTENT_TYPE:
            return value.split(b";", 1)[0].strip().lower()
    return b""


def missing_security_headers(headers: RawHeaders, *, authenticated: bool) -> list[tuple[bytes, bytes]]:
    """The headers above that the answer lacks; never one it set itself."""
    present = {name.lower() for name, _ in headers}
    missing = [header for header in _ALWAYS_RAW if header[0] not in present]
    media_type = media_type_of(headers)
    if media_type != b"text/html" and _CSP not in present:
        missing.append(_API_CSP_RAW)
    if _CACHE_CONTROL not in present:
        if media_type == b"application/problem+json":
            missing.append(_PROBLEM_CACHE_RAW)
        elif authenticated:
            missing.append(_AUTHENTICATED_CACHE_RAW)
    return missing


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
                # A copy: the list given may be a response's own, which may be sent again.
                headers = list(message.get("headers", ()))
                headers += missing_security_headers(headers, authenticated=authenticated)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def secured(handler: ExceptionHandler) -> ExceptionHandler:
    """An exception handler whose answers carry the security headers (for the 500 handler,
    which Starlette runs outside every middleware)."""

    async def handle(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        authenticated = presents_credentials(request.scope)
        # In place: ``response.headers`` is a view of this list.
        response.raw_headers.extend(
            missing_security_headers(response.raw_headers, authenticated=authenticated)
        )
        return response

    return handle
