"""Request-Timeout: every request runs under a deadline, which a caller's header may shorten."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.deadline import deadline_after
from gateway.errors import GatewayError, InvalidHeaderError

HEADER = "Request-Timeout"
_RAW_HEADER = HEADER.lower().encode("latin-1")
# A positive decimal number of seconds: `2`, `0.5`, `.5`. No sign, exponent, inf or nan; the
# lengths bound the work done on a hostile value before it is refused.
_SECONDS = re.compile(r"^(?:[0-9]{1,9}(?:\.[0-9]{0,9})?|\.[0-9]{1,9})$")

ErrorRenderer = Callable[[HTTPConnection, GatewayError], Response]


def parse_request_timeout(value: str, *, ceiling_s: float) -> float:
    """The budget a ``Request-Timeout`` value asks for, clamped to ``ceiling_s``.

    Raises InvalidHeaderError for anything but a positive decimal number of seconds.
    """
    text = value.strip(" \t")
    seconds = float(text) if _SECONDS.match(text) else math.nan
    if not seconds > 0:  # also NaN
        raise InvalidHeaderError(
            f"{HEADER} must be a positive number of seconds, such as 2 or 0.5.", header=HEADER
        )
    return min(seconds, ceiling_s)


class RequestTimeoutMiddleware:
    """Sets the request's deadline (now + ``timeout_s``, or sooner when the caller's
    ``Request-Timeout`` asks for less) for everything after it; a bad value is answered by
    ``on_error`` (a 400 problem) without running the rest of the app."""

    def __init__(self, app: ASGIApp, *, timeout_s: float, on_error: ErrorRenderer) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        values = [value for name, value in scope["headers"] if name == _RAW_HEADER]
        try:
            seconds = self.timeout_s
            if len(values) > 1:
                raise InvalidHeaderError(f"{HEADER} may be given once.", header=HEADER)
            if values:
                seconds = parse_request_timeout(values[0].decode("latin-1"), ceiling_s=self.timeout_s)
        except InvalidHeaderError as exc:
            response = self.on_error(HTTPConnection(scope), exc)
            await response(scope, receive, send)
            return
        with deadline_after(seconds):
            await self.app(scope, receive, send)
