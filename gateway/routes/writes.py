"""Write endpoints: create, the generic actions, provider actions, and their look-ups."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.adapters.base import ActionOutcome
from gateway.auth import require_scope
from gateway.models import CreateOrderBody
from gateway.principal import Principal
from gateway.routes.bodies import (
    check_json_media_type,
    media_type,
    parse_json_object,
    read_body,
    read_form,
    validate_body,
)
from gateway.routes.idempotent import HEADER as IDEMPOTENCY_KEY
from gateway.routes.idempotent import run_idempotent
from gateway.routes.rendering import json_response
from gateway.service import OrderService


def _keyed(request: Request) -> bool:
    """Whether the write carries an Idempotency-Key: only then may the gateway retry it."""
    return IDEMPOTENCY_KEY in request.headers


def _service(request: Request) -> OrderService:
    service: OrderService = request.app.state.orders
    return service


async def _idempotent(request: Request, principal: Principal, body: bytes, operation: Any) -> Response:
    state = request.app.state
    return await run_idempotent(
        request,
        principal,
        body,
        operation,
        store=state.idempotency,
        ttl_s=state.idempotency_ttl_s,
        fallback_marker="ogw-" + secrets.token_hex(10),
    )


async def create_order(request: Request) -> Response:
    principal = require_scope(request, "orders:write")
    raw = await read_body(request)
    check_json_media_type(request, raw)
    body = validate_body(CreateOrderBody, parse_json_object(raw, allow_empty=False))

    async def operation(marker: str, recover: bool) -> Response:
        order = await _service(request).create_order(
            principal, body, marker=marker, recover=recover, keyed=_keyed(request)
        )
        return json_response(order, status_code=201, headers={"Location": order.links.self})

    return await _idempotent(request, principal, raw, operation)


def _action_endpoint(action: str | None, *, method: str) -> Any:
    """An endpoint running ``action`` (or the ``{name}`` in the path) on the order in the path."""

    async def endpoint(request: Request) -> Response:
        principal = require_scope(request, "orders:read")  # the action's own scope is checked next
        name = action or request.path_params["name"]
        order_id = request.path_params["order_id"]
        if method == "GET":
            outcome = await _service(request).perform(principal, order_id, name, {})
            return render_outcome(outcome)
        raw = await read_body(request)
        if media_type(request) == "multipart/form-data":
            payload = await read_form(request)
        else:
            check_json_media_type(request, raw)
            payload = parse_json_object(raw, allow_empty=True)

        async def operation(_marker: str, _recover: bool) -> Response:
            outcome = await _service(request).perform(
                principal, order_id, name, payload, keyed=_keyed(request)
            )
            return render_outcome(outcome)

        return await _idempotent(request, principal, raw, operation)

    return endpoint


def render_outcome(outcome: ActionOutcome) -> Response:
    """A sub-resource as ``{"data": ...}`` (with ``"order"`` when the action also changed the
    order), else the fresh order, else 204 (the order is gone)."""
    if outcome.resource is not None:
        body: dict[str, Any] = {"data": outcome.resource}
        if outcome.order is not None:
            body["order"] = outcome.order.model_dump(mode="json")
        return json_response(body)
    if outcome.order is not None:
        return json_response(outcome.order)
    return Response(status_code=204)


ROUTES = [
    Route("/orders", create_order, methods=["POST"]),
    Route("/orders/{order_id}/cancel", _action_endpoint("cancel", method="POST"), methods=["POST"]),
    Route("/orders/{order_id}/approve", _action_endpoint("approve", method="POST"), methods=["POST"]),
    Route("/orders/{order_id}/reject", _action_endpoint("reject", method="POST"), methods=["POST"]),
    Route("/orders/{order_id}/offering", _action_endpoint("offering", method="GET"), methods=["GET"]),
    Route("/orders/{order_id}/history", _action_endpoint("history", method="GET"), methods=["GET"]),
    Route("/orders/{order_id}/actions/{name}", _action_endpoint(None, method="POST"), methods=["POST"]),
    # Shares its path with GET /orders/{order_id}; Starlette picks the route by method.
    Route("/orders/{order_id}", _action_endpoint("delete", method="DELETE"), methods=["DELETE"]),
]
