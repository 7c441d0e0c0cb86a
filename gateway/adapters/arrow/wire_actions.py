"""Arrow's action requests and answers as pure functions (arrow.md §4, §7): what to send, what came back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from gateway.adapters.arrow.actions import (
    LIFECYCLE_ACTIONS,
    AddAttachmentPayload,
    DeleteAttachmentPayload,
)
from gateway.adapters.arrow.wire import ArrowContext, WireTime, classify_error, utc_time
from gateway.errors import (
    ActionNotAllowedError,
    GatewayError,
    OrderNotFoundError,
    UpstreamAuthError,
    UpstreamBadResponseError,
)
from gateway.models import format_timestamp

ATTACHMENT_PAGE_SIZE = 100  # per_page, Arrow's largest (§5)
MAX_ATTACHMENT_PAGES = 10


@dataclass(frozen=True, slots=True)
class ActionCall:
    """One upstream request: method, path under the base URL, query and JSON body."""

    method: str
    path: str
    params: list[tuple[str, str]] | None = None
    body: bytes | None = None


def action_call(reference: str, action: str, payload: BaseModel, *, page: int = 1) -> ActionCall:
    """The request an action on order ``reference`` makes (§4); ``payload`` is validated."""
    order = f"orders/{reference}"
    if action in LIFECYCLE_ACTIONS:
        return ActionCall("PATCH", f"{order}/{action}")  # no body (§4)
    if action == "update_po":
        return ActionCall("PATCH", order, body=_json(payload.model_dump(exclude_unset=True)))
    if action in ("contributor", "additionalInformation"):
        return ActionCall("PATCH", f"{order}/{action}", body=_json(payload.model_dump()))
    if isinstance(payload, AddAttachmentPayload):
        body = {"name": payload.file_name(), "fileEncoded": payload.encoded()}
        return ActionCall("POST", f"{order}/attachment", body=_json(body))
    if isinstance(payload, DeleteAttachmentPayload):
        return ActionCall("DELETE", f"{order}/attachment/{quote(payload.name, safe='')}")
    if action == "history":
        return ActionCall("GET", f"{order}/history")
    if action == "attachments":
        params = [("page", str(page)), ("per_page", str(ATTACHMENT_PAGE_SIZE))]
        return ActionCall("GET", f"{order}/attachment", params=params)
    raise ValueError(f"no request for action {action!r}")  # check_action() ran before: a bug


def _json(body: Any) -> bytes:
    return orjson.dumps(body)


def classify_action_error(instance: str, status: int, content: bytes) -> GatewayError:
    """§7: on an action, 401/403 are our credentials, 404 the order, and any other 4xx the
    order's state refusing it (409) — except 408 and 429, which say nothing of the order (the
    upstream did not take the request: 502 with its status, retried when keyed); 5xx and the
    rest as for reads."""
    if status in (408, 429):
        return classify_error(instance, status, content)
    if status in (401, 403):
        return UpstreamAuthError(
            "The provider refused the gateway's credentials.", provider=instance, upstream_status=status
        )
    if status == 404:
        return OrderNotFoundError("No such order.")
    if 400 <= status < 500:
        return ActionNotAllowedError("The order does not allow this action now.")
    return classify_error(instance, status, content)


def check_action_answer(instance: str, status: int, content: bytes) -> Any:
    """The ``data`` of an action's answer (None when there is none), or its GatewayError.

    §3: an envelope ``status`` of 400 or more is an error whatever the HTTP status said.
    Clients ignore the body of a successful write (§4), so an unreadable one is no error.
    """
    if not 200 <= status < 300:
        raise classify_action_error(instance, status, content)
    try:
        body = orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    inner = body.get("status")
    if isinstance(inner, int) and not isinstance(inner, bool) and inner >= 400:
        raise classify_action_error(instance, inner, content)
    return body.get("data")


class _Upstream(BaseModel):
    # hide_input_in_errors: errors chained into the log name fields, never upstream values.
    model_config = ConfigDict(extra="allow", frozen=True, hide_input_in_errors=True)


class _HistoryEntry(_Upstream):
    action: str
    description: str | None = None
    user: str | None = None
    dateAction: WireTime


class _AttachmentMeta(_Upstream):
    size: int | str | None = None


class _Attachment(_Upstream):
    name: str
    lastModified: WireTime | None = None
    metadata: _AttachmentMeta | None = None


class _Pagination(_Upstream):
    current_page: int
    total_page: int


class _AttachmentList(_Upstream):
    attachments: list[_Attachment]


class _AttachmentPage(_Upstream):
    data: _AttachmentList
    pagination: _Pagination | None = None


def parse_history(ctx: ArrowContext, status: int, content: bytes) -> list[dict[str, Any]]:
    """``GET .../history`` (§4, php ``OrderHistory``) as ``{action, description, user, at}``,
    oldest first as Arrow lists them, times in UTC."""
    data = check_action_answer(ctx.instance, status, content)
    try:
        if not isinstance(data, list):
            raise ValueError("history data is not a list")
        entries = [_HistoryEntry.model_validate(entry) for entry in data]
    except (ValidationError, ValueError) as exc:
        raise _bad(ctx, status, "The provider's order history could not be read.") from exc
    return [
        {
            "action": entry.action,
            "description": entry.description,
            "user": entry.user,
            "at": format_timestamp(utc_time(entry.dateAction, ctx.zone)),
        }
        for entry in entries
    ]


def parse_attachments(ctx: ArrowContext, status: int, content: bytes) -> tuple[list[dict[str, Any]], bool]:
    """One page of ``GET .../attachment`` as ``{name, last_modified, size}`` (never Arrow's
    ``url``, a path into the upstream), and whether more pages follow."""
    if not 200 <= status < 300:
        raise classify_action_error(ctx.instance, status, content)
    try:
        page = _AttachmentPage.model_validate_json(content)
    except ValidationError as exc:
        raise _bad(ctx, status, "The provider's attachment list could not be read.") from exc
    more = page.pagination is not None and page.pagination.current_page < page.pagination.total_page
    return [attachment_resource(ctx, a) for a in page.data.attachments], more


def parse_added_attachment(ctx: ArrowContext, status: int, content: bytes) -> dict[str, Any]:
    data = check_action_answer(ctx.instance, status, content)
    try:
        return attachment_resource(ctx, _Attachment.model_validate(data))
    except ValidationError as exc:
        raise _bad(ctx, status, "The provider's answer to the upload could not be read.") from exc


def attachment_resource(ctx: ArrowContext, attachment: _Attachment) -> dict[str, Any]:
    size = attachment.metadata.size if attachment.metadata else None
    if isinstance(size, str):
        size = int(size) if size.isascii() and size.isdigit() else None
    modified = attachment.lastModified
    return {
        "name": attachment.name,
        "last_modified": format_timestamp(utc_time(modified, ctx.zone)) if modified else None,
        "size": size,
    }


def _bad(ctx: ArrowContext, status: int, detail: str) -> UpstreamBadResponseError:
    return UpstreamBadResponseError(detail, provider=ctx.instance, upstream_status=status)
