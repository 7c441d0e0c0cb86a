"""The scale-out of compose.yaml without Docker: haproxy (Debian's) round-robin over two gateway
processes that share one redis-server, in front of simulated Waldur and Arrow, all on
loopback. Whichever replica answers, cursors carry on, an Idempotency-Key replays, a key's rate
limit holds and a write's eviction is seen."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.sim.arrow import create_arrow_sim
from gateway.sim.waldur import create_waldur_sim
from tests.support.credentials import API_KEYS, SIM_TOKEN
from tests.support.haproxy import SERVED_BY, check_config, running_haproxy
from tests.support.redis_server import running_redis
from tests.support.replicas import api_key, arrow_instance, running_replicas, shared_config, waldur_instance
from tests.support.servers import running_server

pytestmark = pytest.mark.e2e
OPS_KEY = API_KEYS["ops"]
LIMITED_KEY = API_KEYS["limited"]
LIMIT = 6  # requests the "limited" key may make (its bucket barely refills during the test)
REPLICAS = {"r0", "r1"}
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Cluster:
    url: str  # haproxy's frontend
    arrow: Starlette
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=15))

    def get(self, path: str, key: str = OPS_KEY, **params: str) -> httpx.Response:
        return self.client.get(f"{self.url}{path}", params=params, headers=bearer(key))

    def post(self, path: str, body: Any = None, **headers: str) -> httpx.Response:
        return self.client.post(f"{self.url}{path}", json=body, headers={**bearer(OPS_KEY), **headers})


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def served_by(response: httpx.Response) -> str:
    return response.headers[SERVED_BY]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("haproxy-cluster")
    arrow = create_arrow_sim(orders=30, seed=71, token=SIM_TOKEN)
    waldur = create_waldur_sim(orders=30, seed=72, token=SIM_TOKEN)
    with (
        running_redis(workdir) as redis_url,
        running_server(arrow) as arrow_url,
        running_server(waldur) as waldur_url,
    ):
        config = shared_config(
            {
                "waldur": waldur_instance(waldur_url, cache={"ttl_s": 60}),
                "arrow": arrow_instance(arrow_url, cache={"ttl_s": 60}),
            },
            [
                api_key("ops", OPS_KEY, ["orders:read", "orders:write"]),
                api_key(
                    "limited", LIMITED_KEY, ["orders:read"], rate_limit={"requests": LIMIT, "window_s": 3600}
                ),
            ],
            redis_url,
        )
        with (
            running_replicas(config, workdir) as replica_urls,
            running_haproxy(replica_urls, workdir) as url,
        ):
            cluster = Cluster(url, arrow)
            with cluster.client:
                yield cluster


def test_a_cursor_walk_alternates_replicas_and_returns_every_order_once(cluster: Cluster) -> None:
    whole = cluster.get("/orders", limit="100")
    assert whole.status_code == 200, whole.text
    assert whole.json()["has_more"] is False
    expected = [o["id"] for o in whole.json()["data"]]
    assert len(expected) == 60

    seen: list[str] = []
    servers: list[str] = []
    params = {"limit": "7"}
    while True:
        page = cluster.get("/orders", **params)
        assert page.status_code == 200, page.text
        body = page.json()
        seen.extend(o["id"] for o in body["data"])
        servers.append(served_by(page))
        if not body["has_more"]:
            break
        params = {"limit": "7", "cursor": body["next_cursor"]}

    assert seen == expected  # every order exactly once, in order
    assert len(servers) >= 9 and set(servers) == REPLICAS
    # Round robin: each page came from the other replica than the page before it, so every
    # cursor was made by one replica and read by the other.
    assert all(a != b for a, b in itertools.pairwise(servers)), servers


def test_one_idempotency_key_on_both_replicas_creates_one_order(cluster: Cluster) -> None:
    store = cluster.arrow.state.store  # type: ignore[attr-defined]
    before = len(store)
    sample = next(o for o in store)
    body = {
        "provider": "arrow",
        "customer": sample.customer.reference,
        "items": [{"sku": sample.products[0].offer.sku, "quantity": 1}],
    }
    first = cluster.post("/orders", body, **{"Idempotency-Key": "haproxy-once"})
    second = cluster.post("/orders", body, **{"Idempotency-Key": "haproxy-once"})

    assert served_by(first) != served_by(second)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert second.status_code == 201 and second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content
    assert len(store) == before + 1
    created = first.json()["id"]
    assert cluster.get(f"/orders/{created}").json()["id"] == created


def test_a_keys_rate_limit_holds_across_both_replicas(cluster: Cluster) -> None:
    answers = [cluster.get("/healthz", LIMITED_KEY) for _ in range(LIMIT)]
    assert [a.status_code for a in answers] == [200] * LIMIT
    assert {served_by(a) for a in answers} == REPLICAS
    assert [a.headers["ratelimit-remaining"] for a in answers] == [str(n) for n in range(LIMIT - 1, -1, -1)]
    for _ in REPLICAS:  # the next request is refused, whichever replica it reaches
        refused = cluster.get("/orders", LIMITED_KEY)
        assert refused.status_code == 429, refused.text
        assert refused.json()["type"] == "https://errors.order-gateway.dev/rate-limited"
        assert int(refused.headers["retry-after"]) >= 1


def test_a_write_on_one_replica_evicts_the_others_cached_read(cluster: Cluster) -> None:
    listing = cluster.get("/orders", provider="arrow", limit="30").json()["data"]
    # The oldest cancellable one: the newest may be the order another test created and read.
    target = next(o for o in reversed(listing) if "cancel" in o["actions"])
    path = f"/orders/{target['id']}"

    miss = cluster.get(path)
    hit = cluster.get(path)
    assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("MISS", "HIT")
    assert served_by(miss) != served_by(hit)  # one replica filled the entry, the other read it

    cancelled = cluster.post(f"{path}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    after = cluster.get(path)
    assert served_by(cancelled) != served_by(after) == served_by(hit)
    assert after.headers["x-cache"] == "MISS"
    assert after.json()["status"] == cancelled.json()["status"] != target["status"]


def test_the_compose_haproxy_config_is_valid_for_haproxy() -> None:
    check_config(ROOT / "deploy" / "haproxy.cfg")  # haproxy -c; it raises with haproxy's words


def test_a_haproxy_config_that_haproxy_refuses_fails_loudly(tmp_path: Path) -> None:
    broken = tmp_path / "broken.cfg"
    broken.write_text(
        "defaults\n    mode http\nfrontend in\n    bind 127.0.0.1:8080\n    default_backend nowhere\n"
    )
    with pytest.raises(RuntimeError, match="nowhere"):
        check_config(broken)
