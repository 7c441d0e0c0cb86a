"""Arrow bodies shaped like the PHP client's fixtures (arrow.md §3, §6)."""

from __future__ import annotations

import copy
from typing import Any

UPSTREAM = "http://10.9.8.7:9003"


def arrow_product(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": "SAAS||Microsoft||MS-0A-O365-BUSINESS||BD938F12",
        "name": "Microsoft 365 Business Standard",
        "classification": "SaaS",
        "vendorName": "Microsoft",
        "programName": "Microsoft Cloud Solution Provider (CSP)",
        "program": {"legacyCode": "Microsoft"},
        "identifiers": {"vendor": {"sku": "CFQ7TTC0LDPB"}},
        "quantity": 2,
        "status": "Pending",
        "dateStatus": "2025-01-02 03:04:05",
        "detailedStatus": "Pending",
        "isAddon": False,
        "isTrial": False,
        "arrowSubCategories": ["nce"],
        "prices": {
            "buy": 11,
            "sell": 12.5,
            "currency": "EUR",
            "periodicity": "per Month",
            "term": "1 Year",
            "periodicityCode": 720,
            "termCode": 8640,
        },
        "subscription": {"reference": "XSPS7896", "link": "/api/subscriptions/XSPS7896"},
        "license": {"reference": "XSP87708", "link": "/api/licenses/XSP87708"},
    }
    body.update(overrides)
    return body


def arrow_order(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": "XSPO1001",
        "status": "In progress",
        "dateStatus": "2025-01-02 03:04:05",
        "dateCreation": "2025-01-02 03:00:00",
        "order_reference": "O_ARWS-V7-0001",
        "createdBy": "api",
        "createdByImpersonator": None,
        "commitmentAmountTotal": 22.0,
        "partner": {
            "companyName": "Reseller Pty",
            "contact": {"email": "ops@reseller.example", "firstName": "Ada", "lastName": "Ng"},
        },
        "customer": {"reference": "XSP12345", "link": "/api/customers/XSP12345"},
        "ponumber": "PO-778",
        "endCustomerPONumber": "ECPO-1",
        "scheduledDate": "2025-02-01",
        "extraInformation": {"programs": {"Microsoft": {"domainName": "contoso.onmicrosoft.com"}}},
        "organizationUnitRef": "XSPOU20",
        "customFields": [{"label": "Cost centre", "value": "CC-104"}],
        "products": [arrow_product()],
        "actions": {
            "cancel": "api/orders/XSPO1001/cancel",
            "history": "api/orders/XSPO1001/history",
        },
    }
    body.update(overrides)
    return copy.deepcopy(body)


def list_body(
    orders: list[dict[str, Any]], *, current_page: int = 1, total_page: int = 1, per_page: int = 25
) -> dict[str, Any]:
    return {
        "status": 200,
        "data": {"orders": orders},
        "pagination": {
            "per_page": per_page,
            "current_page": current_page,
            "total_page": total_page,
            "total": len(orders),
            "next": None,
            "previous": None,
        },
    }


def read_body(order: dict[str, Any]) -> dict[str, Any]:
    return {"status": 200, "data": {"orders": [order]}}
