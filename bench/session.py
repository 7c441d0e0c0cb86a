"""One benchmark session: every server it needs, what is prepared before the load, and the targets.

Servers (separate processes, started together):

- ``hit``: three simulators without latency, a gateway caching every read for an hour (and
  a twin of it logging at ``warning``, so writing no access line); A1 (nginx) and A2 (bare
  Starlette) serve that gateway's own ``/orders?limit=50`` bytes.
- ``fan``: three simulators each adding 50 ms; a gateway that caches nothing; A3 (naive
  fan-out) over httpx's pool and over the aiohttp transport.
- ``deep``: three simulators of 10,000 orders each, a gateway that caches nothing.
- ``walk``: three simulators of 33,334 orders each, a gateway that caches nothing (RSS).

The deep walk, the 100,000-order walk and the memory-store script run side by side while the
rest is prepared: none of them is timed for speed.
- ``write``: one Arrow simulator, a gateway on the memory store and one on Redis.
- ``scale``: two gateways sharing Redis (on the ``hit`` simulators), haproxy in front of one
  of them and another haproxy in front of both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.fleet import READ_KEY, SIM_TOKEN, WRITE_KEY, Fleet, bearer, gateway_config
from bench.memory_store import measure_in_subprocess
from bench.processes import Server
from bench.walks import DeepWalk, WalkMemory, walk_memory, walk_pages
from bench.wrk import Load
from gateway.sim.arrow_catalogue import CATALOGUE
from tests.support.haproxy import running_haproxy
from tests.support.redis_server import running_redis

CONNECTIONS = 16
UPSTREAM_LATENCY_MS = 50
LIST_PATH = "/orders?limit=50"
DEEP_LIMIT = 50
DEEP_PAGE = 500
DEEP_TIMED_PAGES = (2, DEEP_PAGE)
DEEP_LAST_PAGE = DEEP_PAGE  # the walk counts upstream calls of pages 1..500
DEEP_WINDOW = 100  # upstream calls per page: the mean of pages 2..101 vs 401..500
DEEP_ORDERS_PER_SIM = 10_000  # 30,000 over three
WALK_ORDERS_PER_SIM = 33_334  # 100,002 over three
WALK_LIMIT = 200
CUSTOMER = "XSP17727"
QUIET = {"log_level": "warning"}  # no access line: those are written at info


@dataclass(frozen=True)
class Target:
    """One thing wrk drives; ``gateway`` is the process to profile when its figure misses."""

    key: str
    load: Load
    gateway: Server | None = None


@dataclass
class Session:
    workdir: Path
    targets: dict[str, Target] = field(default_factory=dict)
    list_body: bytes = b""
    order_body: bytes = b""
    deep: DeepWalk | None = None  # cursors and upstream calls per page
    walk: WalkMemory | None = None
    store: dict[str, Any] | None = None  # bench.memory_store's figures

    def add(self, key: str, load: Load, gateway: Server | None = None) -> None:
        self.targets[key] = Target(key, load, gateway)


def _get(url: str, key: str = READ_KEY) -> httpx.Response:
    answer = httpx.get(url, headers=bearer(key), timeout=60)
    answer.raise_for_status()
    return answer


def create_body() -> bytes:
    sku = CATALOGUE[0].sku
    return json.dumps(
        {"provider": "arrow", "customer": CUSTOMER, "items": [{"sku": sku, "quantity": 1}]}
    ).encode()


def arrow_create_body() -> bytes:
    """What the gateway sends the Arrow simulator for ``create_body`` (the anchor's request)."""
    sku = CATALOGUE[0].sku
    body = {
        "customer": {"reference": CUSTOMER, "ponumber": "bench"},
        "products": [{"sku": sku, "quantity": 1}],
    }
    return json.dumps(body).encode()


@contextmanager
def running_session(workdir: Path, log: Callable[[str], None] = print) -> Iterator[Session]:
    """Start every server, prepare caches and cursors, and yield the targets to measure."""
    session = Session(workdir)
    with ExitStack() as stack:
        redis_url = stack.enter_context(running_redis(workdir))
        fleet = Fleet(workdir)
        stack.callback(fleet.close)

        hit_sims = fleet.sims("hit", orders=500)
        hit = fleet.gateway("gw-hit", gateway_config(hit_sims, ttl_s=3600))
        # The same, but writing no JSON access line per request (what that line costs).
        quiet = fleet.gateway("gw-hit-quiet", {**gateway_config(hit_sims, ttl_s=3600), "server": QUIET})
        fan_sims = fleet.sims("fan", orders=500, latency_ms=UPSTREAM_LATENCY_MS)
        fan = fleet.gateway("gw-fan", gateway_config(fan_sims, ttl_s=0))
        naive = {t: fleet.naive_proxy(t, fan_sims) for t in ("httpx", "aiohttp")}
        deep_sims = fleet.sims("deep", orders=DEEP_ORDERS_PER_SIM)
        deep = fleet.gateway("gw-deep", gateway_config(deep_sims, ttl_s=0))
        walk_sims = fleet.sims("walk", orders=WALK_ORDERS_PER_SIM)
        walker = fleet.gateway("gw-walk", gateway_config(walk_sims, ttl_s=0))
        write_sims = fleet.sims("write", orders=500, kinds=("arrow",))
        write_mem = fleet.gateway("gw-write-memory", gateway_config(write_sims, ttl_s=5))
        write_redis = fleet.gateway(
            "gw-write-redis", gateway_config(write_sims, ttl_s=5, redis_url=redis_url)
        )
        replicas = [
            fleet.gateway(f"gw-scale-{n}", gateway_config(hit_sims, ttl_s=3600, redis_url=redis_url))
            for n in (0, 1)
        ]
        fleet.wait()
        log(f"{len(fleet.servers)} servers up; walking cursors and filling the memory store meanwhile")

        # Nothing of these three is timed for speed: they run side by side, before any load.
        with ThreadPoolExecutor(3) as pool:
            deep_walk = pool.submit(walk_pages, deep, deep_sims, DEEP_LIMIT, DEEP_LAST_PAGE)
            memory_walk = pool.submit(walk_memory, walker, WALK_LIMIT)
            store = pool.submit(measure_in_subprocess)

            # Cache hits: fill the cache; its answer is also what A1 and A2 serve.
            _get(hit.url + LIST_PATH)
            session.list_body = _get(hit.url + LIST_PATH).content
            order_path = f"/orders/{json.loads(session.list_body)['data'][0]['id']}"
            _get(hit.url + order_path)
            session.order_body = _get(hit.url + order_path).content
            _get(quiet.url + order_path)
            body_path = workdir / "orders.json"
            body_path.write_bytes(session.list_body)
            nginx = fleet.nginx(session.list_body)
            bare = fleet.bare_starlette(body_path)
            fleet.wait()

            one = stack.enter_context(running_haproxy([replicas[0].url], _mkdir(workdir, "haproxy-one")))
            two = stack.enter_context(
                running_haproxy([r.url for r in replicas], _mkdir(workdir, "haproxy-two"))
            )
            for url in (one, two, one, two):
                _get(url + LIST_PATH)  # fills the shared cache

            deep_pages = session.deep = deep_walk.result()
            session.walk, session.store = memory_walk.result(), store.result()
        log("prepared")

        reader = bearer(READ_KEY)
        writer = {**bearer(WRITE_KEY), "Content-Type": "application/json"}
        c = CONNECTIONS
        session.add("a1", Load(f"{nginx.url}/orders", c))
        session.add("a2", Load(f"{bare.url}/orders", c))
        session.add("hit-list", Load(hit.url + LIST_PATH, c, reader), hit)
        session.add("hit-order", Load(hit.url + order_path, c, reader), hit)
        session.add("hit-order-quiet", Load(quiet.url + order_path, c, reader), quiet)
        for n in (1, c):
            session.add(f"fan-{n}", Load(fan.url + LIST_PATH, n, reader), fan)
            for transport, server in naive.items():
                session.add(f"a3-{transport}-{n}", Load(f"{server.url}/orders", n))
        for page in DEEP_TIMED_PAGES:
            path = f"/orders?limit={DEEP_LIMIT}&cursor={deep_pages.cursors[page]}"
            session.add(f"deep-{page}", Load(deep.url + path, 1, reader), deep)
        arrow = write_sims["arrow"].url + "orders"
        sim_headers = {"apiKey": SIM_TOKEN, "Content-Type": "application/json"}
        session.add("create-sim", Load(arrow, c, sim_headers, "POST", arrow_create_body()))
        for name, server in (("memory", write_mem), ("redis", write_redis)):
            url = server.url + "/orders"
            session.add(f"create-{name}", Load(url, c, writer, "POST", create_body(), True), server)
            replay = {**writer, "Idempotency-Key": f"bench-replay-{name}"}
            # The first request under the key creates; under load, every one replays it.
            answer = httpx.post(url, headers=replay, content=create_body(), timeout=60)
            answer.raise_for_status()
            session.add(f"replay-{name}", Load(url, c, replay, "POST", create_body()), server)
        session.add("scale-1", Load(one + LIST_PATH, c, reader), replicas[0])
        session.add("scale-2", Load(two + LIST_PATH, c, reader), replicas[0])
        yield session


def _mkdir(workdir: Path, name: str) -> Path:
    (workdir / name).mkdir(exist_ok=True)
    return workdir / name
