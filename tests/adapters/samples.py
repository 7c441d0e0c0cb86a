"""Waldur bodies shaped like the 8.1.3 client's OrderDetails (waldur.md §3)."""

from __future__ import annotations

from typing import Any

BASE = "http://10.1.2.3:9001/api/"


def waldur_order(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": "0b9f3c1e6d2a4f5b8c7d9e0f1a2b3c4d",
        "url": f"{BASE}marketplace-orders/0b9f3c1e6d2a4f5b8c7d9e0f1a2b3c4d/",
        "created": "2025-01-02T03:04:05.123456Z",
        "modified": "2025-01-02T03:04:05Z",
        "state": "pending-consumer",
        "type": "Create",
        "offering": f"{BASE}marketplace-public-offerings/5f1c2a3b000040008000000000000001/",
        "offering_uuid": "5f1c2a3b000040008000000000000001",
        "offering_name": "Small VM",
        "offering_type": "Marketplace.Basic",
        "provider_uuid": "5f1c2a3b000040008000000000000009",
        "provider_name": "Cloud Provider Ltd",
        "project_uuid": "5f1c2a3b000040008000000000000002",
        "project_name": "Genomics",
        "customer_uuid": "5f1c2a3b000040008000000000000003",
        "customer_name": "University A",
        "plan": f"{BASE}marketplace-public-plans/5f1c2a3b000040008000000000000004/",
        "plan_uuid": "5f1c2a3b000040008000000000000004",
        "plan_name": "Monthly",
        "attributes": {"name": "vm-1"},
        "limits": {"cpu": 2, "ram": 4096},
        "cost": "12.3400000000",
        "error_message": "",
        "error_traceback": "Traceback (most recent call last): secret internals",
        "completed_at": None,
        "can_terminate": True,
        "attachment": f"{BASE}media/attachment.pdf",
    }
    body.update(overrides)
    return body
