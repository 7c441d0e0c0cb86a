"""``/openapi.json`` and ``/docs`` over HTTP, and the gateway's real answers checked against the
document by schemathesis: fixed requests to every kind of operation, and generated list queries."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.generation.case import Case
from starlette.routing import Route

from gateway.app import create_app
from gateway.openapi import build_openapi
from tests.api.conftest import Deployment
from tests.support.stack import auth, gateway_settings, waldur_instance

DOCUMENT = build_openapi()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
CONFORMANCE = [
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
UNKNOWN_ORDER = "waldur-eu:" + "0" * 32


async def send(client: httpx.AsyncClient, case: Case, key: str | None) -> httpx.Response:
    """The case's request, as the gateway's callers send it (our key, not a generated one)."""
    headers = {name: str(value).encode("latin-1") for name, value in (case.headers or {}).items()}
    headers = {
        name: value for name, value in headers.items() if name.lower() not in ("authorization", "x-api-key")
    }
    if key is not None:
        headers.update({name: value.encode() for name, value in auth(key).items()})
    body: dict[str, Any] = {} if case.body is None or not isinstance(case.body, dict) else {"json": case.body}
    return await client.request(case.method, case.formatted_path, params=case.query, headers=headers, **body)


async def test_the_document_is_served_without_a_key_and_revalidates_with_its_etag(
    deployment: Deployment,
) -> None:
    response = await deployment.client.get("/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == DOCUMENT
    again = await deployment.client.get("/openapi.json", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_the_docs_page_loads_only_the_gateways_own_assets(deployment: Deployment) -> None:
    page = await deployment.client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert not re.search(r"https?:|//", page.text), "the page names another origin"
    references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(references) == 4  # icon, stylesheet, Swagger UI, the script that starts it
    for reference in references:
        asset = await deployment.client.get(urljoin("/docs", reference))
        assert asset.status_code == 200 and asset.content, reference
        assert "max-age" in asset.headers["cache-control"]
    init = await deployment.client.get("/docs/assets/init.js")
    assert 'url: "openapi.json"' in init.text and "validatorUrl: null" in init.text


async def test_only_the_pages_own_files_of_the_bundle_are_served(deployment: Deployment) -> None:
    for name in ("index.html", "swagger-initializer.js", "..%2Fswagger-ui.css", "%2E%2E"):
        response = await deployment.client.get(f"/docs/assets/{name}")
        assert response.status_code == 404, name
        assert response.headers["content-type"] == "application/problem+json"


def test_every_route_of_the_app_is_documented_and_nothing_else() -> None:
    app = create_app(gateway_settings({"waldur-eu": waldur_instance("eu.waldur.sim")}))
    served = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}
    }
    served.discard(("GET", "/docs/assets/{name}"))  # the page's files, not part of the API
    documented = {(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item}
    assert served == documented


async def test_real_answers_of_every_kind_of_operation_conform_to_the_document(
    deployment: Deployment,
) -> None:
    first = (await deployment.orders(limit="1")).json()["data"][0]["id"]
    order = {"order_id": first}
    requests: list[tuple[str, str, str | None, dict[str, Any]]] = [
        ("/orders", "GET", "reader", {"query": {"limit": 3, "sort": "created_at"}}),
        ("/orders", "GET", "reader", {"query": {"limit": 0}}),  # 400
        ("/orders", "GET", None, {}),  # 401
        ("/orders/export", "GET", "reader", {"query": {"status": "pending"}}),
        ("/orders/statuses", "GET", "reader", {}),
        ("/orders/{order_id}", "GET", "reader", {"path_parameters": order}),
        ("/orders/{order_id}", "GET", "reader", {"path_parameters": {"order_id": UNKNOWN_ORDER}}),  # 404
        ("/orders/{order_id}/offering", "GET", "reader", {"path_parameters": order}),
        ("/orders/{order_id}/history", "GET", "reader", {"path_parameters": order}),  # 422
        ("/orders", "POST", "writer", {"body": {"provider": "waldur-eu"}}),  # 422
        ("/orders/{order_id}/cancel", "POST", "reader", {"path_parameters": order}),  # 403
        ("/orders/{order_id}/reject", "POST", "ops", {"path_parameters": order, "body": {"as": "consumer"}}),
        (
            "/orders/{order_id}/actions/{name}",
            "POST",
            "ops",
            {"path_parameters": {**order, "name": "set_backend_id"}, "body": {"backend_id": "vm-42"}},
        ),
        ("/providers", "GET", "reader", {}),
        ("/healthz", "GET", None, {}),
        ("/readyz", "GET", None, {}),
        ("/metrics", "GET", "ops", {}),
        ("/openapi.json", "GET", None, {}),
        ("/docs", "GET", None, {}),
    ]
    statuses = []
    for path, method, key, parts in requests:
        media = {"media_type": "application/json"} if "body" in parts else {}
        case = SCHEMA[path][method].Case(**parts, **media)
        response = await send(deployment.client, case, key)
        statuses.append(response.status_code)
        assert response.status_code != 500, (path, response.text)
        case.validate_response(response, checks=CONFORMANCE)
    assert {400, 401, 403, 404, 422} <= set(statuses) and 200 in statuses


@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=SCHEMA["/orders"]["GET"].as_strategy())
async def test_generated_list_queries_are_answered_as_documented(deployment: Deployment, case: Case) -> None:
    response = await send(deployment.client, case, "reader")
    assert response.status_code != 500, response.text
    if 400 <= response.status_code < 500:
        assert response.headers["content-type"] == "application/problem+json"
    case.validate_response(response, checks=CONFORMANCE)
