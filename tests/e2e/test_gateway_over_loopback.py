"""Real uvicorn gateway in front of a real uvicorn Waldur simulator, over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gateway.app import create_app
from gateway.sim.waldur import create_waldur_sim
from tests.support.servers import running_server
from tests.support.stack import SIM_TOKEN, auth, gateway_settings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with running_server(create_waldur_sim(orders=120, seed=5, token=SIM_TOKEN)) as url:
        yield url


@pytest.fixture(scope="module", params=["aiohttp", "httpx"])
def gateway_url(request: pytest.FixtureRequest, sim_url: str) -> Iterator[str]:
    settings = gateway_settings(
        {"waldur-eu": {"kind": "waldur", "base_url": f"{sim_url}/api/", "token": SIM_TOKEN, "timeout_s": 1}},
        server={"http_transport": request.param, "request_timeout_s": 3},
    )
    with running_server(create_app(settings)) as url:
        yield url


def fault(sim_url: str, **plan: object) -> None:
    response = httpx.post(f"{sim_url}/__sim__/faults", json=plan)
    assert response.status_code in (200, 201), response.text


def test_walk_and_read_over_real_http(gateway_url: str) -> None:
    with httpx.Client(base_url=gateway_url, headers=auth("reader")) as client:
        seen: list[str] = []
        params: dict[str, str] = {"limit": "50", "sort": "created_at"}
        while True:
            response = client.get("/orders", params=params)
            assert response.status_code == 200 and response.headers["x-request-id"]
            body = response.json()
            seen.extend(o["id"] for o in body["data"])
            if not body["next_cursor"]:
                break
            params["cursor"] = body["next_cursor"]
        assert len(seen) == len(set(seen)) == 120
        one = client.get(f"/orders/{seen[0]}")
        assert one.status_code == 200 and one.json()["id"] == seen[0]


def test_filters_over_real_http(gateway_url: str) -> None:
    with httpx.Client(base_url=gateway_url, headers=auth("reader")) as client:
        body = client.get("/orders", params={"status": "in_progress", "limit": "200"}).json()
        assert body["data"] and {o["provider_status"] for o in body["data"]} == {"executing"}


def test_dropped_connection_is_502_unreachable_not_a_timeout(gateway_url: str, sim_url: str) -> None:
    fault(sim_url, drop=True, count=3)  # a read is tried 3 times (the default retry.attempts)
    with httpx.Client(base_url=gateway_url, headers=auth("reader")) as client:
        response = client.get("/orders/waldur-eu:" + "0" * 32)
    assert response.status_code == 502, response.text
    assert response.json()["type"].endswith("/upstream-unreachable")


def test_slow_upstream_is_504(gateway_url: str, sim_url: str) -> None:
    fault(sim_url, latency_ms=2500, count=1)
    with httpx.Client(base_url=gateway_url, headers=auth("reader"), timeout=10) as client:
        response = client.get("/orders/waldur-eu:" + "0" * 32)
    assert response.status_code == 504 and response.json()["type"].endswith("/upstream-timeout")


def test_refused_connection_is_502_unreachable() -> None:
    settings = gateway_settings(
        {"waldur-eu": {"kind": "waldur", "base_url": "http://127.0.0.1:9/api/", "token": "t"}}
    )
    with running_server(create_app(settings)) as url:
        response = httpx.get(f"{url}/orders/waldur-eu:" + "0" * 32, headers=auth("reader"))
    assert response.status_code == 502 and response.json()["type"].endswith("/upstream-unreachable")
    assert "127.0.0.1:9" not in response.text


def test_unknown_route_and_bad_input_over_real_http(gateway_url: str) -> None:
    with httpx.Client(base_url=gateway_url, headers=auth("reader")) as client:
        assert client.get("/nope").status_code == 404
        assert client.get("/orders?limit=" + "9" * 5000).status_code == 400
        raw = client.get("/orders?q=%ff")
        assert raw.status_code == 400 and raw.headers["content-type"] == "application/problem+json"
