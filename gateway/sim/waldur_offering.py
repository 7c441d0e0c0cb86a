"""A simulated offering as the ``PublicOfferingDetails`` object of ``GET /{uuid}/offering/`` (§4).

A realistic subset of the 8.1.3 client's model: identity, texts, the provider organisation
(``customer_*``), the category, ``state``/``type``, its plans (``BasePublicPlan``: unit, prices
per component) and components (``OfferingComponent``: limit-billed, with measured units).
Component uuids are derived from the offering's uuid and the component type, so they are
stable for a seed without drawing from its random stream.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from gateway.sim.waldur_catalogue import Component, Offering, Plan
from gateway.sim.waldur_render import format_decimal, plan_url

# component type → (display name, measured unit)
COMPONENT_INFO = {
    "cpu_k_hours": ("CPU k-hours", "k-hours"),
    "gpu_hours": ("GPU hours", "hours"),
    "storage_gb": ("Storage", "GB"),
    "cpu": ("CPU", "cores"),
    "ram": ("RAM", "MB"),
    "disk": ("Disk", "GB"),
    "hours": ("Consulting hours", "hours"),
}


def component_uuid(offering: Offering, component: Component) -> str:
    return uuid.uuid5(uuid.UUID(offering.uuid), component.type).hex


def render_offering(offering: Offering, base_url: str) -> dict[str, Any]:
    """The offering as ``PublicOfferingDetails``; links absolute under ``base_url`` (no slash)."""
    provider, category = offering.provider, offering.category
    return {
        "url": f"{base_url}/api/marketplace-public-offerings/{offering.uuid}/",
        "uuid": offering.uuid,
        "name": offering.name,
        "slug": offering.slug,
        "description": offering.description,
        "full_description": f"<p>{offering.description}</p>",
        "customer": f"{base_url}/api/customers/{provider.uuid}/",
        "customer_uuid": provider.uuid,
        "customer_name": provider.name,
        "category": f"{base_url}/api/marketplace-categories/{category.uuid}/",
        "category_uuid": category.uuid,
        "category_title": category.title,
        "type": offering.type,
        "state": "Active",
        "shared": offering.shared,
        "billable": offering.billable,
        "thumbnail": None,
        "image": None,
        "components": [_component(offering, c) for c in offering.components],
        "plans": [_plan(offering, plan, base_url) for plan in offering.plans],
    }


def _component(offering: Offering, component: Component) -> dict[str, Any]:
    name, unit = COMPONENT_INFO.get(component.type, (component.type, "units"))
    return {
        "uuid": component_uuid(offering, component),
        "offering_uuid": offering.uuid,
        "billing_type": "limit",
        "type": component.type,
        "name": name,
        "description": f"{name} of {offering.name}.",
        "measured_unit": unit,
        "min_value": 0,
        "max_value": max(component.amounts),
        "is_boolean": False,
        "is_builtin": False,
        "is_prepaid": False,
    }


def _plan(offering: Offering, plan: Plan, base_url: str) -> dict[str, Any]:
    prices = {c.type: format_decimal(c.unit_price * plan.price_factor) for c in offering.components}
    return {
        "url": plan_url(base_url, offering, plan),
        "uuid": plan.uuid,
        "name": plan.name,
        "description": plan.description,
        "unit": plan.unit,
        "unit_price": format_decimal(Decimal(str(plan.fixed_price))),
        "init_price": plan.activation_price,
        "switch_price": 0.0,
        "archived": False,
        "is_active": True,
        "max_amount": None,
        "prices": prices,
    }
