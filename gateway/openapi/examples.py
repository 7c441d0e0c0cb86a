"""Examples for the document: an order, a page, create bodies (tests validate each against its model)."""

from __future__ import annotations

from typing import Any

NATIVE_ID = "0b9f3c2e5d6a4b7c8d9e0f1a2b3c4d5e"

ORDER: dict[str, Any] = {
    "id": f"waldur-eu:{NATIVE_ID}",
    "provider": "waldur-eu",
    "provider_kind": "waldur",
    "native_id": NATIVE_ID,
    "name": "analytics-vm-01",
    "status": "pending",
    "provider_status": "pending-consumer",
    "created_at": "2026-03-02T09:15:00Z",
    "updated_at": "2026-03-02T09:15:00Z",
    "completed_at": None,
    "customer": {"id": "6c1e0d2f3a4b5c6d7e8f9a0b1c2d3e4f", "name": "Data Science Lab"},
    "service": {"id": "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d", "name": "Virtual machine"},
    "items": [
        {
            "id": "cores",
            "name": "CPU cores",
            "quantity": 4,
            "status": None,
            "unit_price": {"amount": "0.50", "currency": "EUR"},
        }
    ],
    "total": {"amount": "2.00", "currency": "EUR"},
    "actions": ["approve", "reject", "cancel", "delete"],
    "links": {
        "self": f"https://gateway.example.org/orders/waldur-eu:{NATIVE_ID}",
        "upstream": f"https://waldur.example.org/api/marketplace-orders/{NATIVE_ID}/",
    },
    "extra": {"project": {"uuid": "1f2e3d4c5b6a79880796a5b4c3d2e1f0", "name": "Analytics"}},
}

ORDER_PAGE: dict[str, Any] = {
    "data": [ORDER],
    "next_cursor": "eyJ2IjoxLCJmIjoiYjY0ZC4uLiJ9.c2lnbmF0dXJl",
    "has_more": True,
    "providers": {
        "waldur-eu": {
            "status": "ok",
            "ms": 41,
            "source": "upstream",
            "error": None,
            "filters_pushed_down": ["status"],
            "filters_applied_locally": [],
            "call_limit_reached": False,
        },
        "arrow": {
            "status": "error",
            "ms": 3000,
            "source": "upstream",
            "error": {
                "type": "https://errors.order-gateway.dev/upstream-timeout",
                "title": "Upstream timed out",
                "status": 504,
                "detail": "arrow did not answer in time.",
            },
            "filters_pushed_down": [],
            "filters_applied_locally": [],
            "call_limit_reached": False,
        },
    },
}

CREATE_BODIES: dict[str, tuple[str, dict[str, Any]]] = {
    "create-waldur": (
        "Waldur: an offering for a project, with component limits",
        {
            "provider": "waldur-eu",
            "name": "analytics-vm-01",
            "service": "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
            "customer": "3d2c1b0a9f8e7d6c5b4a39281706f5e4",
            "items": [{"id": "cores", "quantity": 4}],
            "provider_options": {"plan": "5e4d3c2b1a0f9e8d7c6b5a4938271605"},
        },
    ),
    "create-ivcap": (
        "IVCAP: a service with its parameters",
        {
            "provider": "ivcap",
            "name": "Fire risk",
            "service": "urn:ivcap:service:8f7e6d5c-4b3a-4291-8f7e-6d5c4b3a2918",
            "parameters": {"region": "North"},
        },
    ),
    "create-arrow": (
        "Arrow: products for a customer, under a PO number",
        {
            "provider": "arrow",
            "name": "PO-2026-0042",
            "customer": "XSP123456",
            "items": [{"sku": "MS-0A-O365-BUSINESS", "quantity": 10}],
        },
    ),
}


def examples() -> dict[str, dict[str, Any]]:
    """``components.examples``, except the problems (``catalogue.py`` makes those)."""
    found: dict[str, dict[str, Any]] = {
        "order": {"summary": "A Waldur order awaiting approval", "value": ORDER},
        "order-page": {"summary": "A partial page: Arrow timed out", "value": ORDER_PAGE},
    }
    for name, (summary, body) in CREATE_BODIES.items():
        found[name] = {"summary": summary, "value": body}
    return found
