"""The simulated Waldur's actions on one order: the §6 state machine, its refusals and its stamps.

Plain data in, plain data out: `perform_action` checks an action's validators in the server's
order (state, then offering type), parses its body as DRF would and changes the order in
place, or raises `RefusedError` carrying the status and DRF-shaped body (§6, §7). Times come
from the caller's ``now``. The HTTP layer (``waldur.py``) looks the order up, saves it and
renders the answer.

Choices on points ``shared/upstreams/waldur.md`` leaves open, after the newer mastermind
``OrderViewSet`` where it has one:

- Consumer approval goes to ``pending-provider`` when the offering needs provider review,
  else to ``pending-start-date`` when the order's ``start_date`` is after today, else to
  ``executing``; provider approval to ``pending-start-date`` or ``executing`` the same way.
  The project start date (``pending-project``) is not simulated.
- ``update_attachment`` / ``delete_attachment`` are allowed in ``pending-project``,
  ``pending-consumer`` and ``pending-provider``; deleting when there is no attachment is a
  bare 404.
- ``retry`` moves ``erred`` to ``executing`` and clears the error; any offering type.
- ``set_state_done`` stamps ``completed_at``; ``set_state_erred`` stamps ``error_updated_at``.
- Every change stamps ``modified``; ``set_backend_id`` with the same value changes nothing.
- The shortcut "review by consumer not required" (creator is staff) is not simulated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.sim.waldur_catalogue import User
from gateway.sim.waldur_data import Attachment, WaldurOrder

SLURM = "Marketplace.Slurm"
BASIC = "Marketplace.Basic"
SUPPORT = "Support.OfferingTemplate"
PENDING = ("pending-consumer", "pending-provider")
ATTACHMENT_STATES = ("pending-project", "pending-consumer", "pending-provider")
NOT_A_STRING = "Not a valid string."
REQUIRED = "This field is required."


class RefusedError(Exception):
    """An action the simulated server refuses: its HTTP status and DRF body (None: no body)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


@dataclass(frozen=True, slots=True)
class Rule:
    """An action's validators: ``StateValidator`` states in the server's order (None: any
    state), then ``OfferingTypeValidator`` types (None: any type)."""

    states: tuple[str, ...] | None
    offering_types: tuple[str, ...] | None


# §6; keyed by the endpoint name (``destroy`` is ``DELETE /{uuid}/``).
RULES: dict[str, Rule] = {
    "approve_by_consumer": Rule(("pending-consumer",), None),
    "approve_by_provider": Rule(("pending-provider",), None),
    "reject_by_consumer": Rule(("pending-consumer",), None),
    "reject_by_provider": Rule(("pending-provider",), None),
    "cancel": Rule((*PENDING, "executing"), (BASIC, SUPPORT)),
    "destroy": Rule(PENDING, None),
    "set_state_executing": Rule((*PENDING, "erred"), (SLURM,)),
    "set_state_done": Rule(("executing",), (SLURM, BASIC, SUPPORT)),
    "set_state_erred": Rule(None, (SLURM,)),
    "set_backend_id": Rule(None, None),
    "update_attachment": Rule(ATTACHMENT_STATES, None),
    "delete_attachment": Rule(ATTACHMENT_STATES, None),
    "unlink": Rule(None, None),
    "retry": Rule(("erred",), None),
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """A successful action: the status, the JSON body (None: none) and whether the row went."""

    status: int
    body: Any = None
    removed: bool = False


@dataclass(frozen=True, slots=True)
class ActionContext:
    """Who acts, when, and where attachments are served."""

    now: datetime
    user: User
    attachment_url: Callable[[WaldurOrder], str | None]


def check_rule(action: str, order: WaldurOrder) -> None:
    """The action's validators in the server's order: wrong state 409, wrong offering type 405."""
    rule = RULES[action]
    if rule.states is not None and order.state not in rule.states:
        raise RefusedError(409, {"detail": f"Valid states for operation: {', '.join(rule.states)}."})
    if rule.offering_types is not None and order.offering.type not in rule.offering_types:
        message = f"The order's offering with {order.offering.type} type does not support this action"
        raise RefusedError(405, {"detail": f'Method "{message}" not allowed.'})


def perform_action(action: str, order: WaldurOrder, data: Mapping[str, Any], ctx: ActionContext) -> Outcome:
    """Run ``action`` on ``order`` (changed in place only on success) or raise `RefusedError`.

    Call `check_rule` first: the server runs the validators before it reads the body."""
    return ACTIONS[action](order, data, ctx)


# The actions whose handler reads the request body; the others never parse it.
BODY_ACTIONS = frozenset(
    {
        "approve_by_provider",
        "reject_by_consumer",
        "reject_by_provider",
        "set_state_erred",
        "set_backend_id",
        "update_attachment",
    }
)


def _stamp(order: WaldurOrder, ctx: ActionContext, state: str | None = None) -> None:
    if state is not None:
        order.state = state
    order.modified = ctx.now


def _after_approval(order: WaldurOrder, ctx: ActionContext) -> str:
    if order.start_date is not None and order.start_date > ctx.now.date():
        _stamp(order, ctx, "pending-start-date")
        return "Order is pending start date."
    _stamp(order, ctx, "executing")
    return "Order has been approved and is being processed."


def _approve_by_consumer(order: WaldurOrder, data: Mapping[str, Any], ctx: ActionContext) -> Outcome:
    order.consumer_reviewed_by, order.consumer_reviewed_at = ctx.user, ctx.now
    if order.offering.needs_provider_review:
        _stamp(order, ctx, "pending-provider")
        return Outcome(200, {"detail": "Order is pending provider approval."})
    return Outcome(200, {"detail": _after_approval(order, ctx)})


def _approve_by_provider(order: WaldurOrder, data: Mapping[str, Any], ctx: ActionContext) -> Outcome:
    attributes = data.get("attributes")
    if attributes is not None and not isinstance(attributes, dict):
        raise RefusedError(400, {"attributes": [not_a_dict(attributes)]})
    if attributes:
        order.attributes.update(attributes)
    order.provider_reviewed_by, order.provider_reviewed_at = ctx.user, ctx.now
    return Outcome(200, {"detail": _after_approval(order, ctx)})


def _reject_by_consumer(order: WaldurOrder, data: Mapping[str, Any], ctx: ActionContext) -> Outcome:
    fields = _strings(data, ("error_message", "error_traceback", "consumer_rejection_comment"))
    if order.consumer_reviewed_by is not None:
        raise RefusedError(400, ["Order is already reviewed by consumer."])
    order.consumer_reviewed_by, order.consumer_reviewed_at = ctx.user, ctx.now
    order.error_message = fields.get("error_message", "")
    order.error_traceback = fields.get("error_traceback", "")
    order.consumer_rejection_comment = fields.get("consumer_rejection_comment", "")
    _stamp(order, ctx, "rejected")
    return Outcome(200)


def _reject_by_provider(order: WaldurOrder, data: Mapping[str, Any], ctx: ActionContext) -> Outcome:
    fields = _strings(data, ("provider_rejection_comment",))
    order.provider_reviewed_by, order.provider_reviewed_at = ctx.user, ctx.now
    order.provider_rejection_comment = fields.get("provider_rejection_comment", "")
    _stamp(order, ctx, "rejected")
    return Outcome(200)


def _cancel(order: WaldurOrder, data: Mapping[str, Any], ctx: ActionContext) -> Outcome:
    _stamp(order, ctx, "canceled")
    return Outcome(202)


def _remove(order: WaldurOrder, data: Mapping[str, Any], ctx: ActionContext) -> Outcome:
    return Outcome(204, removed=True)


def _set_state_executing(order: WaldurOrder, data: Mapping[str, Any], ctx: ActionContext) -> Outcome:
    _stamp(order, ctx, "executing")
    return Outcome(200)


def _set_state_done(order: WaldurOrder, data: Mapping[str, Any], ctx: ActionContext) -> Outcome:
    order.completed_at = ctx.now
    _stamp(order, ctx, "done")
    return Outcome(200)


def _set_state_erred(order: WaldurOrder, data: Mapping[str, Any], ctx: ActionContext) -> Outcome:
    fields = _strings(data, ("error_message", "error_traceback"))
    order.error_message = fields.get("error_message", "")
    order.error_traceback = fields.get("error_traceback", "")
    order.error_updated_at = ctx.now
    _stamp(order, ctx, "erred")
    return Outcome(200)


def _set_backend_id(order: WaldurOrder, data: Mapping[str, Any], ctx: ActionContext) -> Outcome:
    value = data.get("backend_id")
    if value is None:
        message = REQUIRED if "backend_id" not in data else "This field may not be null."
        raise RefusedError(400, {"backend_id": [message]})
    backend_id = drf_string(value)
    if backend_id is None:
        raise RefusedError(400, {"backend_id": [NOT_A_STRING]})
    backend_id = backend_id.strip()  # DRF CharField trims whitespace
    if not backend_id:
        raise RefusedError(400, {"backend_id": ["This field may not be blank."]})
    if len(backend_id) > 255:
        raise RefusedError(400, {"backend_id": ["Ensure this field has no more than 255 characters."]})
    if backend_id == order.backend_id:
        return Outcome(200, {"status": "Order backend_id is not changed."})
    order.backend_id = backend_id
    _stamp(order, ctx)
    return Outcome(200, {"status": "Order backend_id has been changed."})


def _update_attachment(order: WaldurOrder, data: Mapping[str, Any], ctx: ActionContext) -> Outcome:
    upload = data.get("attachment")
    if not isinstance(upload, Attachment):
        message = (
            "No file was submitted."
            if upload in (None, "")
            else "The submitted data was not a file. Check the encoding type on the form."
        )
        raise RefusedError(400, {"attachment": [message]})
    order.attachment = Attachment(_safe_name(upload.name), upload.content_type, upload.content)
    _stamp(order, ctx)
    return Outcome(200, {"attachment": ctx.attachment_url(order)})


def _delete_attachment(order: WaldurOrder, data: Mapping[str, Any], ctx: ActionContext) -> Outcome:
    if order.attachment is None:
        raise RefusedError(404, None)  # the server answers a bare `Response(status=404)`
    order.attachment = None
    _stamp(order, ctx)
    return Outcome(204)


def _retry(order: WaldurOrder, data: Mapping[str, Any], ctx: ActionContext) -> Outcome:
    order.error_message = order.error_traceback = ""
    order.error_updated_at = None
    _stamp(order, ctx, "executing")
    return Outcome(200)


ACTIONS: dict[str, Callable[[WaldurOrder, Mapping[str, Any], ActionContext], Outcome]] = {
    "approve_by_consumer": _approve_by_consumer,
    "approve_by_provider": _approve_by_provider,
    "reject_by_consumer": _reject_by_consumer,
    "reject_by_provider": _reject_by_provider,
    "cancel": _cancel,
    "destroy": _remove,
    "set_state_executing": _set_state_executing,
    "set_state_done": _set_state_done,
    "set_state_erred": _set_state_erred,
    "set_backend_id": _set_backend_id,
    "update_attachment": _update_attachment,
    "delete_attachment": _delete_attachment,
    "unlink": _remove,
    "retry": _retry,
}


def drf_string(value: Any) -> str | None:
    """DRF ``CharField``: strings and numbers become text; anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value)


def _strings(data: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """The optional text fields of an action body, or a 400 naming every bad one."""
    found: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name in names:
        if name not in data:
            continue
        text = drf_string(data[name])
        if text is None:
            errors[name] = [NOT_A_STRING]
        else:
            found[name] = text
    if errors:
        raise RefusedError(400, errors)
    return found


def not_a_dict(value: Any) -> str:
    return f'Expected a dictionary of items but got type "{_json_type(value)}".'


def _json_type(value: Any) -> str:
    names = {bool: "bool", int: "int", float: "float", str: "str", list: "list", type(None): "NoneType"}
    return names.get(type(value), type(value).__name__)


def _safe_name(name: str) -> str:
    """Django storage's ``get_valid_filename``: spaces to underscores, odd characters dropped."""
    cleaned = re.sub(r"(?u)[^-\w.]", "", name.strip().replace(" ", "_"))
    return cleaned or "attachment"
