"""Rendering simulated Waldur orders as the JSON objects a real server sends, and DRF answers (§2–3)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response

from gateway.sim.waldur_catalogue import Offering, Plan, User
from gateway.sim.waldur_data import CANCELLABLE_OFFERING_TYPES, CANCELLABLE_STATES, WaldurOrder


def drf_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer as DRF renders one (compact, UTF-8, ``application/json``)."""
    return Response(orjson.dumps(payload), status, headers, media_type="application/json")


def format_datetime(value: datetime | None) -> str | None:
    """DRF's rendering: ``isoformat()`` (microseconds only when non-zero), UTC as ``Z``."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def format_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def format_decimal(value: Decimal | None) -> str | None:
    """A ``DecimalField(decimal_places=10)`` as DRF renders it: a string."""
    return None if value is None else f"{value:.10f}"


def _username(user: User | None) -> str | None:
    return None if user is None else user.username


def _full_name(user: User | None) -> str | None:
    return None if user is None else user.full_name


def plan_url(base_url: str, offering: Offering, plan: Plan) -> str:
    """A plan's hyperlink: the view ``marketplace-public-offering-plan-detail``, as the server's
    ``PublicPlanField`` renders it and as the create body's ``plan`` must name it."""
    return f"{base_url}/api/marketplace-public-offerings/{offering.uuid}/plans/{plan.uuid}/"


def attachment_url(base_url: str, order: WaldurOrder) -> str | None:
    """Where the order's uploaded file is served (Django's media storage), or None."""
    if order.attachment is None:
        return None
    return f"{base_url}/media/marketplace_order_attachments/{order.uuid}/{order.attachment.name}"


def render_order(order: WaldurOrder, base_url: str, *, staff: bool = True) -> dict[str, Any]:
    """The full ``OrderDetails`` object; links are absolute under ``base_url`` (no slash).

    ``error_traceback`` is shown to staff only (§3)."""
    body = _render_order(order, base_url)
    if not staff:
        del body["error_traceback"]
    return body


def _render_order(order: WaldurOrder, base_url: str) -> dict[str, Any]:
    offering, plan, project = order.offering, order.plan, order.project
    provider, customer, old_plan = offering.provider, project.customer, order.old_plan
    is_update = order.type == "Update"
    return {
        "offering": f"{base_url}/api/marketplace-public-offerings/{offering.uuid}/",
        "offering_name": offering.name,
        "offering_uuid": offering.uuid,
        "offering_description": offering.description,
        "offering_image": None,
        "offering_thumbnail": None,
        "offering_type": offering.type,
        "offering_shared": offering.shared,
        "offering_billable": offering.billable,
        "offering_plugin_options": {},
        "provider_name": provider.name,
        "provider_uuid": provider.uuid,
        "provider_slug": provider.slug,
        "provider_description": provider.description,
        "category_title": offering.category.title,
        "category_uuid": offering.category.uuid,
        "category_icon": None,
        "plan": plan_url(base_url, offering, plan) if plan else None,
        "plan_unit": plan.unit if plan else None,
        "plan_name": plan.name if plan else None,
        "plan_uuid": plan.uuid if plan else None,
        "plan_description": plan.description if plan else None,
        "attributes": dict(order.attributes),
        "limits": dict(order.limits),
        "uuid": order.uuid,
        "created": format_datetime(order.created),
        "modified": format_datetime(order.modified),
        "resource_uuid": order.resource_uuid,
        "resource_type": None,
        "resource_name": order.resource_name,
        "resource_end_date": None,
        "cost": format_decimal(order.cost),
        "state": order.state,
        "output": order.output,
        "output_updated_at": None,
        "marketplace_resource_uuid": order.resource_uuid,
        "error_message": order.error_message,
        "error_traceback": order.error_traceback,
        "error_updated_at": format_datetime(order.error_updated_at),
        "callback_url": order.callback_url,
        "completed_at": format_datetime(order.completed_at),
        "request_comment": order.request_comment,
        "attachment": attachment_url(base_url, order),
        "type": order.type,
        "start_date": format_date(order.start_date),
        "slug": order.slug,
        "url": f"{base_url}/api/marketplace-orders/{order.uuid}/",
        "consumer_reviewed_by": _username(order.consumer_reviewed_by),
        "consumer_reviewed_by_full_name": _full_name(order.consumer_reviewed_by),
        "consumer_reviewed_by_username": _username(order.consumer_reviewed_by),
        "consumer_reviewed_at": format_datetime(order.consumer_reviewed_at),
        "provider_reviewed_by": _username(order.provider_reviewed_by),
        "provider_reviewed_by_full_name": _full_name(order.provider_reviewed_by),
        "provider_reviewed_by_username": _username(order.provider_reviewed_by),
        "provider_reviewed_at": format_datetime(order.provider_reviewed_at),
        "created_by_username": order.created_by.username,
        "created_by_full_name": order.created_by.full_name,
        "created_by_civil_number": None,
        "created_by_email": order.created_by.email,
        "created_by_organization": order.created_by.organisation.name,
        "created_by_organization_country": None,
        "created_by_organization_registry_code": None,
        "created_by_organization_vat_code": None,
        "created_by_organization_address": None,
        "customer_name": customer.name,
        "customer_uuid": customer.uuid,
        "customer_slug": customer.slug,
        "project_name": project.name,
        "project_uuid": project.uuid,
        "project_description": project.description,
        "project_slug": project.slug,
        "old_plan_name": old_plan.name if old_plan else None,
        "new_plan_name": plan.name if is_update and plan else None,
        "old_plan_uuid": old_plan.uuid if old_plan else None,
        "new_plan_uuid": plan.uuid if is_update and plan else None,
        "old_plan_billing_mode": None,
        "new_plan_billing_mode": None,
        "old_cost_estimate": order.old_cost_estimate,
        "new_cost_estimate": format_decimal(order.cost),
        "can_terminate": (offering.type in CANCELLABLE_OFFERING_TYPES and order.state in CANCELLABLE_STATES),
        "fixed_price": plan.fixed_price if plan else 0.0,
        "activation_price": plan.activation_price if plan else 0.0,
        "termination_comment": order.termination_comment,
        "backend_id": order.backend_id,
        "order_subtype": None,
        "provider_message": "",
        "provider_message_url": "",
        "provider_message_attachment": None,
        "provider_message_updated_at": None,
        "consumer_message": "",
        "consumer_message_attachment": None,
        "consumer_message_updated_at": None,
        "consumer_rejection_comment": order.consumer_rejection_comment,
        "provider_rejection_comment": order.provider_rejection_comment,
        "auto_approved": order.auto_approved,
        "auto_approved_by_rule_uuid": None,
        "auto_approved_cost_limit_snapshot": None,
        "issue": None,
    }


def trim_fields(body: dict[str, Any], fields: Collection[str] | None) -> dict[str, Any]:
    """Waldur's ``field=`` restriction: only the named fields; unknown names give nothing."""
    if not fields:
        return body
    return {name: value for name, value in body.items() if name in fields}
