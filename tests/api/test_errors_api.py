"""Problems, keys, request ids and upstream failures through HTTP (API.md §1, §7)."""

from __future__ import annotations

import httpx
import pytest

from gateway.sim.waldur import create_waldur_sim
from tests.api.conftest import Deployment
from tests.support.credentials import API_KEYS, BASIC_CREDENTIALS, REDIS_PASSWORD, UNKNOWN_KEY, WRONG_TOKEN
from tests.support.stack import SIM_TOKEN, HostRouter, auth, gateway_client, gateway_settings, waldur_instance

PROBLEM = "application/problem+json"
BASE = "https://errors.order-gateway.dev/"


def assert_problem(response: httpx.Response, status: int, type_: str) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == BASE + type_ and body["status"] == status
    assert body["title"] and body["detail"]
    assert body["instance"] == response.headers["x-request-id"]
    return body


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": f"Bearer {UNKNOWN_KEY}"},
        {"X-API-Key": UNKNOWN_KEY},
        {"Authorization": f"Basic {BASIC_CREDENTIALS}"},
        {"Authorization": "Bearer"},
    ],
)
async def test_missing_or_bad_keys_are_401_with_www_authenticate(
    deployment: Deployment, headers: dict[str, str]
) -> None:
    for path in ("/orders", "/orders/waldur-eu:" + "0" * 32, "/providers"):
        response = await deployment.client.get(path, headers=headers)
        assert_problem(response, 401, "not-authenticated")
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_x_api_key_works_like_bearer(deployment: Deployment) -> None:
    response = await deployment.client.get(
        "/orders", params={"limit": "1"}, headers={"X-API-Key": API_KEYS["reader"]}
    )
    assert response.status_code == 200


async def test_valid_key_without_the_scope_is_403(deployment: Deployment) -> None:
    for path in ("/orders", "/orders/waldur-eu:" + "0" * 32, "/providers"):
        assert_problem(await deployment.client.get(path, headers=auth("writer")), 403, "missing-scope")


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": "100000"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "lost"}, "status"),
        ({"colour": "red"}, "colour"),
        ({"created_after": "last tuesday"}, "created_after"),
        ({"sort": "price"}, "sort"),
        ({"cursor": "garbage"}, None),
    ],
)
async def test_bad_queries_are_400_problems(
    deployment: Deployment, params: dict[str, str], parameter: str | None
) -> None:
    response = await deployment.client.get("/orders", params=params, headers=auth("reader"))
    assert response.status_code == 400 and response.headers["content-type"] == PROBLEM
    if parameter:
        assert parameter in response.json()["detail"]


async def test_non_utf8_query_string_is_400(deployment: Deployment) -> None:
    response = await deployment.client.get("/orders?q=%ff%fe", headers=auth("reader"))
    assert_problem(response, 400, "invalid-query")


async def test_unknown_route_and_method_are_problems(deployment: Deployment) -> None:
    assert_problem(await deployment.client.get("/nothing/here", headers=auth("reader")), 404, "not-found")
    wrong = await deployment.client.delete("/healthz")
    assert_problem(wrong, 405, "method-not-allowed")
    assert "GET" in wrong.headers["allow"]


async def test_request_id_is_echoed_when_sane_and_minted_otherwise(deployment: Deployment) -> None:
    sane = await deployment.client.get("/healthz", headers={"X-Request-ID": "abc-123.DEF_4"})
    assert sane.headers["x-request-id"] == "abc-123.DEF_4"
    for insane in ("has space", "x" * 300, "<script>", "a;b"):
        response = await deployment.client.get("/healthz", headers={"X-Request-ID": insane})
        assert response.headers["x-request-id"] != insane and len(response.headers["x-request-id"]) == 32
    unauthenticated = await deployment.client.get("/orders", headers={"X-Request-ID": "trace-me"})
    assert (
        unauthenticated.headers["x-request-id"] == "trace-me"
        and unauthenticated.json()["instance"] == "trace-me"
    )


async def test_one_failing_instance_gives_a_partial_answer(deployment: Deployment) -> None:
    await deployment.fault("au.waldur.sim", status=503, count=5)
    response = await deployment.client.get("/orders", params={"limit": "100"}, headers=auth("reader"))
    assert response.status_code == 200
    assert response.headers["x-partial-response"] == "true"
    body = response.json()
    assert {o["provider"] for o in body["data"]} == {"waldur-eu"}
    report = body["providers"]["waldur-au"]
    assert report["status"] == "error"
    assert (
        report["error"]["type"] == BASE + "upstream-bad-response"
        and report["error"]["upstream_status"] == 503
    )
    # The cursor resumes the failed instance: nothing it holds is skipped.
    await deployment.upstream.delete("http://au.waldur.sim/__sim__/faults")
    resumed = (
        await deployment.client.get(
            "/orders", params={"limit": "100", "cursor": body["next_cursor"]}, headers=auth("reader")
        )
    ).json()
    assert len([o for o in resumed["data"] if o["provider"] == "waldur-au"]) == 30


async def test_every_instance_failing_is_502(deployment: Deployment) -> None:
    for host in ("eu.waldur.sim", "au.waldur.sim"):
        await deployment.fault(host, malformed=True, count=5)
    body = assert_problem(
        await deployment.client.get("/orders", headers=auth("reader")), 502, "all-upstreams-failed"
    )
    assert "waldur.sim" not in str(body)


async def test_every_instance_timing_out_is_504(deployment: Deployment) -> None:
    for host in ("eu.waldur.sim", "au.waldur.sim"):
        await deployment.fault(host, latency_ms=3000, count=5)
    assert_problem(
        await deployment.client.get("/orders", headers=auth("reader")), 504, "all-upstreams-failed"
    )


async def test_read_of_a_failing_upstream_is_502_and_timeout_504(deployment: Deployment) -> None:
    order_id = "waldur-eu:" + "0" * 32
    await deployment.fault("eu.waldur.sim", status=500, count=1)
    body = assert_problem(
        await deployment.client.get(f"/orders/{order_id}", headers=auth("reader")),
        502,
        "upstream-bad-response",
    )
    assert body["provider"] == "waldur-eu" and body["upstream_status"] == 500
    await deployment.fault("eu.waldur.sim", latency_ms=3000, count=1)
    assert_problem(
        await deployment.client.get(f"/orders/{order_id}", headers=auth("reader")), 504, "upstream-timeout"
    )


async def test_upstream_refusing_our_credentials_is_502_never_401() -> None:
    sims = {"w.sim": create_waldur_sim(orders=5, seed=1, token=SIM_TOKEN)}
    settings = gateway_settings({"waldur-eu": waldur_instance("w.sim", token=WRONG_TOKEN)})
    async with (
        httpx.AsyncClient(transport=HostRouter(sims)) as upstream,
        gateway_client(settings, upstream) as client,
    ):
        listing = await client.get("/orders", headers=auth("reader"))
        body = assert_problem(listing, 502, "all-upstreams-failed")
        assert WRONG_TOKEN not in listing.text
        read = await client.get("/orders/waldur-eu:" + "0" * 32, headers=auth("reader"))
        assert_problem(read, 502, "upstream-auth")
        assert body["status"] == 502


class ExplodingTransport(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError(f"boom: db at 10.9.8.7 password={REDIS_PASSWORD}")


async def test_a_bug_is_a_bare_500_problem_without_internals(caplog: pytest.LogCaptureFixture) -> None:
    settings = gateway_settings({"waldur-eu": waldur_instance("w.sim")})
    async with (
        httpx.AsyncClient(transport=ExplodingTransport()) as upstream,
        gateway_client(settings, upstream) as client,
    ):
        response = await client.get(
            "/orders/waldur-eu:" + "0" * 32, headers={**auth("reader"), "X-Request-ID": "bug-1"}
        )
    body = assert_problem(response, 500, "internal")
    assert response.headers["x-request-id"] == "bug-1"
    assert (
        "boom" not in response.text
        and "10.9.8.7" not in response.text
        and REDIS_PASSWORD not in response.text
    )
    assert body["instance"] == "bug-1"
    assert any("boom" in str(r.exc_info) for r in caplog.records if r.exc_info)


async def test_health_ready_and_providers(deployment: Deployment) -> None:
    assert (await deployment.client.get("/healthz")).json() == {"status": "ok"}
    ready = await deployment.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["upstreams"] == {"ok": 2, "error": 0}
    assert ready.json()["instances"] == {
        "waldur-au": {"status": "ok", "circuit": "closed"},
        "waldur-eu": {"status": "ok", "circuit": "closed"},
    }
    assert "waldur.sim" not in ready.text  # configured names only, never upstream addresses
    assert ready.json()["shared_store"] == "none"
    providers = (await deployment.client.get("/providers", headers=auth("reader"))).json()["data"]
    assert [p["name"] for p in providers] == ["waldur-au", "waldur-eu"]
    assert providers[0]["kind"] == "waldur" and providers[0]["health"]["status"] == "ok"
    assert "created_after" in providers[0]["capabilities"]["filters"]


async def test_readyz_is_503_when_no_upstream_answers(deployment: Deployment) -> None:
    for host in ("eu.waldur.sim", "au.waldur.sim"):
        await deployment.fault(host, status=503, count=5)
    ready = await deployment.client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["upstreams"] == {"ok": 0, "error": 2}
