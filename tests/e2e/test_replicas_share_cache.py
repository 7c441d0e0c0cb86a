"""Two gateway processes sharing one real redis-server: one read cache, evictions that reach
both; and when Redis dies mid-test, reads keep working, no write is lost, keyed writes fail
closed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from gateway.sim.arrow import create_arrow_sim
from tests.support.credentials import API_KEYS, SIM_TOKEN
from tests.support.redis_server import RestartableRedis, restartable_redis
from tests.support.replicas import api_key, arrow_instance, running_replicas, shared_config
from tests.support.servers import running_server

pytestmark = pytest.mark.e2e
KEY = API_KEYS["replica"]
HEADERS = {"Authorization": f"Bearer {KEY}"}


@dataclass
class Cluster:
    urls: list[str]
    sim: Starlette
    sim_url: str
    redis: RestartableRedis

    def calls(self) -> int:
        return int(httpx.get(f"{self.sim_url}/__sim__/requests").json()["total"])

    def get(self, replica: int, path: str, **params: str) -> httpx.Response:
        return httpx.get(f"{self.urls[replica]}{path}", params=params, headers=HEADERS, timeout=10)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    sim = create_arrow_sim(orders=30, seed=61, token=SIM_TOKEN)
    with restartable_redis(tmp_path) as redis, running_server(sim) as sim_url:
        config = shared_config(
            {"arrow": arrow_instance(sim_url, cache={"ttl_s": 60})},
            [api_key("ops", KEY, ["orders:read", "orders:write"])],
            redis.url,
        )
        with running_replicas(config, tmp_path) as urls:
            yield Cluster(urls, sim, sim_url, redis)


def test_replicas_share_entries_and_a_write_on_one_evicts_for_both(cluster: Cluster) -> None:
    listing = cluster.get(0, "/orders", limit="30")
    assert listing.headers["x-cache"] == "MISS"
    calls = cluster.calls()
    other = cluster.get(1, "/orders", limit="30")
    assert other.headers["x-cache"] == "HIT" and cluster.calls() == calls
    target = next(o for o in listing.json()["data"] if "cancel" in o["actions"])
    assert cluster.get(1, f"/orders/{target['id']}").headers["x-cache"] == "MISS"
    assert cluster.get(0, f"/orders/{target['id']}").headers["x-cache"] == "HIT"
    assert cluster.get(0, "/orders", limit="30").headers["x-cache"] == "HIT"  # its page, reused
    cancelled = httpx.post(f"{cluster.urls[1]}/orders/{target['id']}/cancel", headers=HEADERS, timeout=10)
    assert cancelled.status_code == 200
    after = cluster.get(0, f"/orders/{target['id']}")
    assert after.headers["x-cache"] == "MISS" and after.json()["status"] == cancelled.json()["status"]
    relisted = cluster.get(0, "/orders", limit="30")  # the write on replica 1 ends replica 0's reuse
    assert relisted.headers["x-cache"] == "MISS"
    mine = next(o for o in relisted.json()["data"] if o["id"] == target["id"])
    assert mine["status"] == cancelled.json()["status"]


def test_when_redis_dies_reads_go_on_no_write_is_lost_and_keyed_writes_fail_closed(cluster: Cluster) -> None:
    assert cluster.get(0, "/orders", limit="5").status_code == 200
    ready = httpx.get(f"{cluster.urls[0]}/readyz").json()
    assert ready["shared_store"] == "ok"
    cluster.redis.kill()
    for replica in (0, 1, 0, 1):
        page = cluster.get(replica, "/orders", limit="5")
        assert page.status_code == 200, page.text
    assert httpx.get(f"{cluster.urls[0]}/readyz").json()["shared_store"] == "degraded"
    store = cluster.sim.state.store
    before = len(store)
    sample = next(o for o in store)
    body = {
        "provider": "arrow",
        "customer": sample.customer.reference,
        "items": [{"sku": sample.products[0].offer.sku, "quantity": 1}],
    }
    keyed = httpx.post(
        f"{cluster.urls[0]}/orders",
        json=body,
        headers={**HEADERS, "Idempotency-Key": "while-down"},
        timeout=10,
    )
    assert keyed.status_code == 503, keyed.text
    assert keyed.json()["type"].endswith("/store-unavailable") and keyed.headers["retry-after"]
    assert len(store) == before  # refused before anything was sent upstream
    unkeyed = httpx.post(f"{cluster.urls[1]}/orders", json=body, headers=HEADERS, timeout=10)
    assert unkeyed.status_code == 201, unkeyed.text
    assert len(store) == before + 1
    # The write evicted the replica's local entries: the new order shows at once.
    created = unkeyed.json()["id"]
    assert cluster.get(1, f"/orders/{created}").status_code == 200
    listed = cluster.get(1, "/orders", limit="50").json()["data"]
    assert created in {o["id"] for o in listed}
