"""Per request: one server span (continuing a caller's ``traceparent``), the request metrics
and one JSON access line. Runs right after the request id, so it sees every answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.principal import Principal
from gateway.telemetry import Telemetry, activate, server_span

AccessLogger = Callable[[dict[str, Any]], None]  # writes one access line of these fields
access_log = logging.getLogger("gateway.access")
UNMATCHED = "unmatched"  # the route label of a path no route matches
# Any other method a caller sends is labelled _OTHER (as OpenTelemetry's conventions do): a
# label taken from the request as it is would let callers mint series without bound.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def trace_id_of(scope: Scope) -> str | None:
    """The trace id of this request, when the middleware has run (also after it ended)."""
    state = scope.get("state")
    return state.get("trace_id") if isinstance(state, dict) else None


def route_template(scope: Scope) -> str:
    """The path template of the route that served (or would serve) this request, never the
    raw path: metric labels stay few. Requests refused before routing (401, 429) are matched
    here against the app's routes."""
    route = scope.get("route")
    if route is None:
        router = getattr(scope.get("app"), "router", None)
        for candidate in getattr(router, "routes", ()):
            match, _ = candidate.matches(scope)
            if match is not Match.NONE:
                route = candidate
                break
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp, *, telemetry: Telemetry, log_access: AccessLogger | None = None) -> None:
        self.app = app
        self._telemetry = telemetry
        # app.py passes logs.log_access, which writes the same line faster where it can.
        self._log_access = log_access or log_access_record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "_OTHER"
        path = scope["path"][:200]
        status = 500  # unless an answer starts: an exception becomes the outermost 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        telemetry = self._telemetry
        with (
            activate(telemetry) as record,
            server_span(telemetry, method, scope["headers"], path) as span,
        ):
            trace_id = format(span.get_span_context().trace_id, "032x")
            state = scope.setdefault("state", {})
            state["trace_id"] = trace_id
            try:
                await self.app(scope, receive, send_with_status)
            finally:
                seconds = time.perf_counter() - start
                route = route_template(scope)
                if span.is_recording():
                    end_server_span(span, method, route, status)
                telemetry.metrics.observe_request(route, method, status, seconds)
                principal = scope.get("user")
                self._log_access(
                    {
                        "request_id": state.get("request_id"),
                        "trace_id": trace_id,
                        "key": principal.name if isinstance(principal, Principal) else None,
                        "method": method,
                        "route": route,
                        "path": path,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 1),
                        "instances": sorted(record.instances),
                    }
                )


def log_access_record(fields: dict[str, Any]) -> None:
    """The access line as a plain log record: an INFO "request" with ``fields`` as extras."""
    access_log.info("request", extra=fields)


def end_server_span(span: Span, method: str, route: str, status: int) -> None:
    """Name the server span after its route and give it the answer's status."""
    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:  # a 4xx is the caller's error, not the server span's
        span.set_status(Status(StatusCode.ERROR))
