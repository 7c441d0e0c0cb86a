"""Rendering simulated ArrowSphere orders as the JSON objects the real API sends (§2, §6).

Every key the PHP client's entities read without a default is always present (§9); the
optional ones are present too, ``null`` when empty. Links are relative ``/api/...`` paths and
the ``actions`` object's paths have no leading slash, as in the fixtures (§2).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from gateway.sim.arrow_actions import allowed_actions
from gateway.sim.arrow_catalogue import PARTNER_COMPANY
from gateway.sim.arrow_data import ArrowOrder, ArrowProduct, Attachment, HistoryEntry

WIRE_TIME = "%Y-%m-%d %H:%M:%S"


def format_time(value: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS``, no zone (the simulator's times are UTC)."""
    return value.strftime(WIRE_TIME)


def format_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def number(value: Decimal) -> int | float:
    """A JSON number as PHP's ``json_encode`` writes one: integral amounts without a fraction."""
    return int(value) if value == value.to_integral_value() else float(value)


def render_actions(order: ArrowOrder) -> dict[str, str]:
    """The lifecycle actions the order's status allows now, and ``history`` (always)."""
    actions = {action: f"api/orders/{order.reference}/{action}" for action in allowed_actions(order.status)}
    actions["history"] = f"api/orders/{order.reference}/history"
    return actions


def render_product(product: ArrowProduct) -> dict[str, Any]:
    offer = product.offer
    return {
        "sku": offer.sku,
        "name": offer.name,
        "classification": offer.classification,
        "vendorName": offer.program.vendor,
        "programName": offer.program.name,
        "program": {"legacyCode": offer.program.code},
        "identifiers": {"vendor": {"sku": offer.vendor_sku}},
        "quantity": product.quantity,
        "status": product.status,
        "dateStatus": format_time(product.date_status),
        "detailedStatus": product.detailed_status,
        "isAddon": offer.is_addon,
        "isTrial": product.is_trial,
        "arrowSubCategories": list(offer.sub_categories),
        "prices": {
            "buy": number(product.buy),
            "sell": number(product.sell),
            "currency": product.currency,
            "periodicity": offer.periodicity,
            "term": offer.term,
            "periodicityCode": offer.periodicity_code,
            "termCode": offer.term_code,
        },
        "subscription": {
            "reference": product.subscription,
            "link": f"/api/subscriptions/{product.subscription}",
        },
        "license": (
            None
            if product.license is None
            else {"reference": product.license, "link": f"/api/licenses/{product.license}"}
        ),
    }


def render_order(order: ArrowOrder) -> dict[str, Any]:
    contact = order.contact
    customer = order.customer.reference
    return {
        "reference": order.reference,
        "status": order.status,
        "dateStatus": format_time(order.date_status),
        "dateCreation": format_time(order.date_creation),
        "order_reference": order.order_reference,
        "createdBy": order.created_by,
        "createdByImpersonator": order.created_by_impersonator,
        "commitmentAmountTotal": number(order.commitment_amount_total),
        "partner": {
            "companyName": PARTNER_COMPANY,
            "contact": {
                "email": contact.email,
                "firstName": contact.first_name,
                "lastName": contact.last_name,
            },
        },
        "customer": {"reference": customer, "link": f"/api/customers/{customer}"},
        "ponumber": order.ponumber,
        "endCustomerPONumber": order.end_customer_po,
        "scheduledDate": format_date(order.scheduled_date),
        "extraInformation": order.extra_information,
        "organizationUnitRef": order.organization_unit,
        "customFields": [dict(field) for field in order.custom_fields],
        "products": [render_product(product) for product in order.products],
        "actions": render_actions(order),
    }


def render_history(order: ArrowOrder, entry: HistoryEntry) -> dict[str, str]:
    """One ``GET .../history`` entry (php ``OrderHistory``)."""
    return {
        "orderId": order.reference,
        "action": entry.action,
        "description": entry.description,
        "user": entry.user,
        "dateAction": format_time(entry.at),
    }


def render_attachment(order: ArrowOrder, attachment: Attachment) -> dict[str, Any]:
    """One attachment (node ``AttachmentOrder``); its ``url`` is an opaque relative path."""
    return {
        "name": attachment.name,
        "url": f"/api/orders/{order.reference}/attachment/{quote(attachment.name)}",
        "lastModified": format_time(attachment.last_modified),
        "metadata": {"size": str(len(attachment.content))},
    }
