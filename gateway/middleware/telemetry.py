"""Per request: one server span (continuing a caller's ``traceparent``), the request metrics
and one JSON access line. Runs right after the request id, so it sees every answer."""

from __future__ import annotations

import logging
import time

from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.principal import Principal
from gateway.telemetry import Telemetry, activate, extract_context

UNMATCHED = "unmatched"  # the route label of a path no route matches
# Any other method a caller sends is labelled _OTHER (as OpenTelemetry's conventions do): a
# label taken from the request as it is would let callers mint series without bound.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
access_log = logging.getLogger("gateway.access")


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
    def __init__(self, app: ASGIApp, *, telemetry: Telemetry) -> None:
        self.app = app
        self._telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "_OTHER"
        status = 500  # unless an answer starts: an exception becomes the outermost 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        telemetry = self._telemetry
        with (
            activate(telemetry) as record,
            telemetry.tracer.start_as_current_span(
                method,
                context=extract_context(scope["headers"]),
                kind=SpanKind.SERVER,
                attributes={"http.request.method": method, "url.path": scope["path"][:200]},
            ) as span,
        ):
            context = span.get_span_context()
            trace_id = format(context.trace_id, "032x")
            state = scope.setdefault("state", {})
            state["trace_id"] = trace_id
            try:
                await self.app(scope, receive, send_with_status)
            finally:
                seconds = time.perf_counter() - start
                route = route_template(scope)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:  # a 4xx is the caller's error, not the server span's
                    span.set_status(Status(StatusCode.ERROR))
                labels = (route, method, str(status))
                telemetry.metrics.requests.labels(*labels).inc()
                telemetry.metrics.request_seconds.labels(*labels).observe(seconds)
                principal = scope.get("user")
                access_log.info(
                    "request",
                    extra={
                        "request_id": state.get("request_id"),
                        "trace_id": trace_id,
                        "key": principal.name if isinstance(principal, Principal) else None,
                        "method": method,
                        "route": route,
                        "path": scope["path"][:200],
                        "status": status,
                        "duration_ms": round(seconds * 1000, 1),
                        "instances": sorted(record.instances),
                    },
                )
