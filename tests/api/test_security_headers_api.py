"""Security headers on every answer (gateway/middleware/security_headers.py): ``nosniff`` and
no framing always; ``Cache-Control: no-store`` on problems and ``private, no-cache`` on
answers to a keyed request that set none — never replacing what an answer set itself."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import Deployment
from tests.api.test_errors_api import ExplodingTransport
from tests.support.credentials import API_KEYS, UNKNOWN_KEY
from tests.support.stack import auth, gateway_client, gateway_settings, waldur_instance

ALWAYS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'"


def assert_always(response: httpx.Response) -> None:
    for name, value in ALWAYS.items():
        assert response.headers.get(name) == value, (response.request.url, name, dict(response.headers))


async def test_keyed_answers_are_private_and_keep_their_own_cache_control(deployment: Deployment) -> None:
    client = deployment.client
    listing = await client.get("/orders", params={"limit": "2"}, headers=auth("reader"))
    assert listing.headers["cache-control"].startswith("private, max-age=")  # the read cache's
    order_id = listing.json()["data"][0]["id"]
    read = await client.get(f"/orders/{order_id}", headers=auth("reader"))
    assert read.headers["cache-control"].startswith("private, max-age=")
    again = await client.get(
        f"/orders/{order_id}", headers={**auth("reader"), "If-None-Match": read.headers["etag"]}
    )
    assert again.status_code == 304 and again.headers["cache-control"].startswith("private")
    export = await client.get("/orders/export", headers=auth("reader"))
    assert export.headers["cache-control"] == "private, no-store"  # its own
    for path in ("/providers", "/orders/statuses"):  # they set none: private, revalidated
        answer = await client.get(path, headers=auth("reader"))
        assert answer.status_code == 200 and answer.headers["cache-control"] == "private, no-cache"
    offering = await client.get(f"/orders/{order_id}/offering", headers={"X-API-Key": API_KEYS["reader"]})
    assert offering.status_code == 200 and offering.headers["cache-control"] == "private, no-cache"
    for answer in (listing, read, again, export, offering):
        assert_always(answer)
        assert answer.headers["content-security-policy"] == API_CSP or answer.status_code == 304


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/orders", {}, 401),
        ("GET", "/orders", {"Authorization": f"Bearer {UNKNOWN_KEY}"}, 401),
        ("GET", "/orders", auth("writer"), 403),
        ("GET", "/orders/waldur-au:" + "0" * 32, auth("eu-only"), 404),
        ("GET", "/nothing/here", {}, 404),
        ("DELETE", "/healthz", {}, 405),
        ("GET", "/orders?limit=0", auth("reader"), 400),
        ("GET", "/orders?q=" + "x" * 9000, auth("reader"), 414),
        ("POST", "/orders", {**auth("writer"), "Content-Type": "text/plain"}, 415),
    ],
)
async def test_problems_are_never_stored(
    deployment: Deployment, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    response = await deployment.client.request(method, path, headers=headers, content=b"x")
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-security-policy"] == API_CSP
    assert_always(response)


async def test_keyless_answers_get_the_headers_but_no_cache_policy_of_ours(deployment: Deployment) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json"):
        answer = await deployment.client.get(path)
        assert answer.status_code == 200
        assert_always(answer)
        assert answer.headers.get("cache-control") != "private, no-cache"
    page = await deployment.client.get("/docs")
    assert_always(page)
    assert "script-src 'self'" in page.headers["content-security-policy"]  # the page's own policy


async def test_a_bug_answered_outside_every_middleware_still_carries_them() -> None:
    settings = gateway_settings({"waldur-eu": waldur_instance("w.sim")})
    async with (
        httpx.AsyncClient(transport=ExplodingTransport()) as upstream,
        gateway_client(settings, upstream) as client,
    ):
        response = await client.get("/orders/waldur-eu:" + "0" * 32, headers=auth("reader"))
    assert response.status_code == 500
    assert_always(response)
    assert response.headers["cache-control"] == "no-store"


async def test_a_rate_limited_answer_carries_them(deployment: Deployment) -> None:
    settings = gateway_settings(
        {"waldur-eu": waldur_instance("eu.waldur.sim")}, rate_limit={"requests": 1, "window_s": 60}
    )
    async with gateway_client(settings, deployment.upstream) as client:
        await client.get("/orders/statuses", headers=auth("reader"))
        limited = await client.get("/orders/statuses", headers=auth("reader"))
    assert limited.status_code == 429 and limited.headers["cache-control"] == "no-store"
    assert_always(limited)
