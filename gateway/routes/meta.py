"""Meta endpoints: ``/providers``, ``/healthz``, ``/readyz``, ``/metrics``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.auth import require_scope
from gateway.errors import ForbiddenError, NotFoundError
from gateway.metrics import METRICS_MEDIA_TYPE
from gateway.routes.rendering import json_response
from gateway.service import OrderService
from gateway.telemetry import Telemetry


def _service(request: Request) -> OrderService:
    service: OrderService = request.app.state.orders
    return service


async def providers(request: Request) -> Response:
    principal = require_scope(request, "orders:read")
    service = _service(request)
    health = await service.health(principal)
    data = []
    for name, adapter in sorted(service.visible(principal).items()):
        caps = adapter.capabilities
        data.append(
            {
                "name": name,
                "kind": adapter.kind,
                "health": health[name].model_dump(),
                "capabilities": {
                    "filters": sorted(caps.filters),
                    "sorts": sorted(caps.sorts),
                    "max_page_size": caps.max_page_size,
                    "can_create": caps.can_create,
                    "can_delete": caps.can_delete,
                },
                "actions": sorted(caps.actions),
            }
        )
    return json_response({"data": data})


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready while at least one upstream answers: a summary per instance (its configured name,
    never its address), counts of open circuits, and whether the shared store (Redis)
    answers — while it does not, the gateway still serves, with cache and rate limits local
    and keyed writes refused (docs/decisions.md), so it stays ready."""
    health = await _service(request).health(None)
    up = sum(1 for h in health.values() if h.status == "ok")
    ready = up > 0
    body = {
        "status": "ready" if ready else "not-ready",
        "upstreams": {"ok": up, "error": len(health) - up},
        "instances": {
            name: h.model_dump(include={"status", "error", "circuit"}, exclude_none=True)
            for name, h in sorted(health.items())
        },
        "circuits": {
            state: sum(1 for h in health.values() if h.circuit == state) for state in ("open", "half-open")
        },
        "shared_store": _shared_store_state(request),
    }
    return json_response(body, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    """Prometheus text format. Needs ``orders:admin`` unless ``telemetry.metrics_access`` says
    ``public`` (a scraper without a key) or ``off`` (404, as if there were no such route)."""
    telemetry: Telemetry = request.app.state.telemetry
    if telemetry.metrics_access == "off":
        raise NotFoundError(f"There is no resource at {request.url.path!r}.")
    if telemetry.metrics_access == "admin":
        principal = require_scope(request, "orders:admin")
        if principal.providers is not None:
            # Metrics are labelled with every instance's name: a key limited to some
            # instances must not learn of the others.
            raise ForbiddenError("Metrics need an orders:admin key that may see every instance.")
    return Response(telemetry.metrics.exposition(), media_type=METRICS_MEDIA_TYPE)


def _shared_store_state(request: Request) -> str:
    """``none`` (no Redis configured), ``ok``, or ``degraded`` while Redis is unreachable."""
    state = request.app.state
    if not state.shared_store:
        return "none"
    degraded = any(getattr(part, "degraded", False) for part in (state.read_cache, state.limiter))
    return "degraded" if degraded else "ok"


ROUTES = [
    Route("/providers", providers, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
