"""Retries over real sockets: a refused connection, and a real simulator answering 503 first."""

from __future__ import annotations

import logging
import socket
import time

import httpx
import pytest

from gateway.app import create_app
from gateway.sim.waldur import create_waldur_sim
from tests.support.servers import running_server
from tests.support.stack import SIM_TOKEN, auth, gateway_settings

pytestmark = pytest.mark.e2e
RETRY = {"attempts": 3, "base_delay_s": 0.01, "max_delay_s": 0.05, "retry_after_cap_s": 0.2}


def unused_port() -> int:
    """A loopback port nobody listens on (bound, then released: connections to it are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_refused_connection_is_retried_within_the_deadline_then_502_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.adapters.retry")
    instance = {
        "kind": "waldur",
        "base_url": f"http://127.0.0.1:{unused_port()}/api/",
        "token": "t",
        "retry": RETRY,
        "cache": {"ttl_s": 0},
    }
    settings = gateway_settings({"waldur-eu": instance}, server={"request_timeout_s": 2})
    with running_server(create_app(settings)) as url:
        start = time.monotonic()
        response = httpx.get(f"{url}/orders/waldur-eu:" + "0" * 32, headers=auth("reader"), timeout=10)
        elapsed = time.monotonic() - start
    assert response.status_code == 502 and response.json()["type"].endswith("/upstream-unreachable")
    assert "127.0.0.1" not in response.text
    retries = [r for r in caplog.records if r.getMessage().startswith("retrying upstream call")]
    assert len(retries) == RETRY["attempts"] - 1
    assert all("instance=waldur-eu" in r.getMessage() and "127.0.0.1" not in r.getMessage() for r in retries)
    assert elapsed < 2


def test_retries_against_a_real_simulator_over_loopback_succeed() -> None:
    instance = {"kind": "waldur", "token": SIM_TOKEN, "retry": RETRY, "cache": {"ttl_s": 0}}
    with running_server(create_waldur_sim(orders=12, seed=7, token=SIM_TOKEN)) as sim_url:
        settings = gateway_settings({"waldur-eu": {**instance, "base_url": f"{sim_url}/api/"}})
        with running_server(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as client:
            plan = {"status": 503, "retry_after": 1, "count": 2, "path": "/api/marketplace-orders/"}
            assert httpx.post(f"{sim_url}/__sim__/faults", json=plan).status_code == 200
            response = client.get("/orders", params={"limit": "50"}, headers=auth("reader"))
            assert response.status_code == 200, response.text
            assert len(response.json()["data"]) == 12 and "x-partial-response" not in response.headers
            seen = httpx.get(f"{sim_url}/__sim__/requests").json()["by_route"]
            assert seen["GET /api/marketplace-orders/"] == 3
