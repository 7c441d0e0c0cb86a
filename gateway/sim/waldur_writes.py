"""The simulated Waldur's write endpoints over HTTP: create, delete, order actions, the offering.

`WaldurWrites` holds the handlers; ``waldur.py`` routes to them after authentication and
the method check. Each handler follows the server's order of checks (§6): staff check
(``unlink``), order lookup (404), validators (409/405), then the body (400), then the change,
saved to the store so cached list views are dropped.

The simulated caller is one API user; ``staff`` says whether it is staff. Only staff may
``unlink`` (others get 403) and see ``error_traceback`` (§3).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from gateway.sim.waldur_actions import (
    BODY_ACTIONS,
    RULES,
    ActionContext,
    RefusedError,
    check_rule,
    perform_action,
)
from gateway.sim.waldur_catalogue import Organisation, User
from gateway.sim.waldur_create import create_order
from gateway.sim.waldur_data import Attachment, WaldurOrder, WaldurStore
from gateway.sim.waldur_offering import render_offering
from gateway.sim.waldur_render import attachment_url, drf_response, render_order

Clock = Callable[[], datetime]

# The endpoints under /api/marketplace-orders/{uuid}/: POST actions, and the one GET.
ORDER_ACTIONS = frozenset(RULES) - {"destroy"}
ORDER_VIEWS = frozenset({"offering"})
ATTACHMENT_ROUTE = "/media/marketplace_order_attachments/{order_id}/{name}"
NO_PERMISSION = "You do not have permission to perform this action."
STAFF_ORGANISATION = Organisation(
    uuid.uuid5(uuid.NAMESPACE_URL, "waldur-sim/staff").hex, "Waldur operators", "waldur-operators", ""
)
API_USER = User(
    uuid.uuid5(uuid.NAMESPACE_URL, "waldur-sim/api-user").hex,
    "gateway-api",
    "Order Gateway",
    "gateway-api@waldur-operators.example",
    STAFF_ORGANISATION,
)


class WaldurWrites:
    """The write handlers over one store; new uuids come from a ``Random(seed)`` of their own."""

    def __init__(self, store: WaldurStore, *, clock: Clock, staff: bool, seed: int) -> None:
        self.store = store
        self.clock = clock
        self.staff = staff
        self._rng = random.Random(f"waldur-writes-{seed}")

    async def create(self, request: Request) -> Response:
        try:
            data = await read_data(request)
            order = create_order(data, store=self.store, now=self.clock(), user=API_USER, rng=self._rng)
        except RefusedError as exc:
            return refusal(exc)
        self.store.add(order)
        body = render_order(order, base_url(request), staff=self.staff)
        return drf_response(body, 201, {"Location": body["url"]})

    async def destroy(self, request: Request) -> Response:
        try:
            order = self._order(request)
            check_rule("destroy", order)
        except RefusedError as exc:
            return refusal(exc)
        self.store.remove(order.uuid)
        return Response(status_code=204)

    async def action(self, request: Request) -> Response:
        name = request.path_params["action"]
        try:
            if name == "unlink" and not self.staff:
                raise RefusedError(403, {"detail": NO_PERMISSION})
            order = self._order(request)
            check_rule(name, order)
            data = await read_data(request) if name in BODY_ACTIONS else {}
            ctx = ActionContext(
                now=self.clock(),
                user=API_USER,
                attachment_url=lambda o: attachment_url(base_url(request), o),
            )
            outcome = perform_action(name, order, data, ctx)
        except RefusedError as exc:
            return refusal(exc)
        if outcome.removed:
            self.store.remove(order.uuid)
        else:
            self.store.save(order)
        if outcome.body is None:
            return Response(status_code=outcome.status)
        return drf_response(outcome.body, outcome.status)

    async def offering(self, request: Request) -> Response:
        try:
            order = self._order(request)
        except RefusedError as exc:
            return refusal(exc)
        return drf_response(render_offering(order.offering, base_url(request)))

    async def attachment_file(self, request: Request) -> Response:
        order = self.store.get(request.path_params["order_id"])
        attachment = order.attachment if order is not None else None
        if attachment is None or attachment.name != request.path_params["name"]:
            return Response(b"Not Found", 404, media_type="text/plain")
        return Response(attachment.content, media_type=attachment.content_type)

    def _order(self, request: Request) -> WaldurOrder:
        order_id = request.path_params["order_id"]
        order = self.store.get(order_id)
        if order is None:
            raise RefusedError(404, {"detail": not_found_detail(order_id)})
        return order


def not_found_detail(order_id: str) -> str:
    """DRF: an unparsable lookup is a bare Http404; a valid unknown one names the model."""
    try:
        uuid.UUID(order_id)
    except ValueError:
        return "Not found."
    return "No Order matches the given query."


def refusal(exc: RefusedError) -> Response:
    if exc.body is None:
        return Response(status_code=exc.status)
    return drf_response(exc.body, exc.status)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def read_data(request: Request) -> Any:
    """``request.data`` as DRF's JSON, form and multipart parsers give it (files as Attachments)."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if not media_type:
        return {}  # DRF reads no body without a content type
    if media_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        async with request.form() as form:
            return {key: await _form_value(value) for key, value in form.multi_items()}
    if media_type == "application/json" or media_type.endswith("+json"):
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise RefusedError(400, {"detail": f"JSON parse error - {exc}"}) from exc
    raise RefusedError(415, {"detail": f'Unsupported media type "{content_type}" in request.'})


async def _form_value(value: UploadFile | str) -> Attachment | str:
    if isinstance(value, str):
        return value
    content = await value.read()
    return Attachment(value.filename or "", value.content_type or "application/octet-stream", content)
