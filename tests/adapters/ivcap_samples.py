"""IVCAP bodies: the §3 examples of ivcap.md (current API) and their §9 legacy counterparts."""

from __future__ import annotations

from typing import Any

ORIGIN = "http://127.0.0.1:9002"
BASE = f"{ORIGIN}/1/"
ORDER = "urn:ivcap:order:3c1e0000-0000-4000-8000-000000000001"
SERVICE = "urn:ivcap:service:3c1e0000-0000-4000-8000-000000000002"
ACCOUNT = "urn:ivcap:account:3c1e0000-0000-4000-8000-000000000003"
ARTIFACT = "urn:ivcap:artifact:9a0b0000-0000-4000-8000-000000000004"
NEXT_TOKEN = "b2Zmc2V0PTE"


def link(rel: str, href: str) -> dict[str, str]:
    return {"rel": rel, "href": href, "type": "application/json"}


def list_item(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": ORDER,
        "name": "Fire risk for Lot 2",
        "status": "executing",
        "service": SERVICE,
        "account": ACCOUNT,
        "href": f"{BASE}orders/{ORDER}",
        "ordered-at": "2025-01-02T03:00:00Z",
        "started-at": "2025-01-02T03:01:00Z",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def list_page(*items: dict[str, Any], next_token: str | None = NEXT_TOKEN) -> dict[str, Any]:
    links = [link("self", f"{BASE}orders?limit=1"), link("first", f"{BASE}orders?limit=1")]
    if next_token is not None:
        links.append(link("next", f"{BASE}orders?page={next_token}"))
    return {"at-time": "2025-01-02T03:04:05Z", "items": list(items or [list_item()]), "links": links}


def order_status(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": ORDER,
        "name": "Fire risk for Lot 2",
        "status": "succeeded",
        "service": SERVICE,
        "account": ACCOUNT,
        "ordered-at": "2025-01-02T03:00:00Z",
        "started-at": "2025-01-02T03:01:00Z",
        "finished-at": "2025-01-02T03:09:00Z",
        "parameters": [{"name": "region", "value": "Upper Valley"}, {"name": "threshold", "value": "10"}],
        "tags": ["demo"],
        "links": [link("self", f"{BASE}orders/{ORDER}")],
        "products": {
            "items": [
                {
                    "id": ARTIFACT,
                    "status": "ready",
                    "name": "fire risk map",
                    "mime-type": "image/geo+tiff",
                    "size": 1234963,
                    "href": f"{BASE}artifacts/{ARTIFACT}",
                    "data-href": f"{BASE}artifacts/{ARTIFACT}/blob",
                }
            ],
            "links": [],
        },
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def legacy_row(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": ORDER,
        "name": "Fire risk for Lot 2",
        "status": "executing",
        "ordered_at": "2025-01-02T03:00:00Z",
        "started_at": "2025-01-02T03:01:00Z",
        "finished_at": None,
        "account_id": ACCOUNT,
        "service_id": SERVICE,
        "links": {"self": f"{BASE}orders/{ORDER}"},
    }
    body.update(overrides)
    return body


def legacy_page(*rows: dict[str, Any], next_token: str | None = "eyJuIjoxfQ") -> dict[str, Any]:
    next_link = None if next_token is None else f"{BASE}orders?pageToken={next_token}&limit=1"
    return {
        "links": {"first": f"{BASE}orders?limit=1", "next": next_link, "self": f"{BASE}orders?limit=1"},
        "orders": list(rows or [legacy_row()]),
    }


def legacy_order(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": ORDER,
        "name": "Fire risk for Lot 2",
        "status": "finished",
        "ordered_at": "2025-01-02T03:00:00Z",
        "started_at": "2025-01-02T03:01:00Z",
        "finished_at": "2025-01-02T03:09:00Z",
        "account": {"id": ACCOUNT, "links": {"self": f"{BASE}accounts/{ACCOUNT}"}},
        "service": {"id": SERVICE, "links": {"self": f"{BASE}services/{SERVICE}"}},
        "parameters": [{"name": "region", "value": "Upper Valley"}],
        "products": [
            {
                "id": ARTIFACT,
                "name": "fire risk map",
                "status": "ready",
                "mime_type": "image/geo+tiff",
                "size": 1234963,
                "href": f"{BASE}artifacts/{ARTIFACT}",
                "data_href": f"{BASE}artifacts/{ARTIFACT}/blob",
            }
        ],
        "metadata": [{"id": "urn:ivcap:aspect:9a0b0000-0000-4000-8000-000000000005", "schema": "urn:x:s.1"}],
        "links": {"self": f"{BASE}orders/{ORDER}"},
    }
    body.update(overrides)
    return body
