"""A successful write evicts the cached reads it makes stale before the answer is sent."""

from __future__ import annotations

import time

import httpx

from gateway.app import create_app
from gateway.cache import CacheEntry, MemoryReadCache, listing_tag, order_tag
from gateway.sim.arrow import create_arrow_sim
from tests.support.stack import SIM_TOKEN, HostRouter, auth, gateway_settings


async def put(cache: MemoryReadCache, key: str, value: bytes, *, ttl_s: float, tags: list[str]) -> None:
    now = time.time()
    assert await cache.put(
        key, CacheEntry(value, now, now + ttl_s, now + ttl_s), tuple(tags), await cache.versions(tags)
    )


async def value(cache: MemoryReadCache, key: str) -> bytes | None:
    entry = await cache.get(key)
    return None if entry is None else entry.value


async def test_a_write_evicts_its_order_and_its_instance_listings_only() -> None:
    sims = {
        "arrow.sim": create_arrow_sim(orders=20, seed=71, token=SIM_TOKEN),
        "other.sim": create_arrow_sim(orders=5, seed=72, token=SIM_TOKEN),
    }
    settings = gateway_settings(
        {
            "arrow": {"kind": "arrow", "base_url": "http://arrow.sim/index.php/api/", "api_key": SIM_TOKEN},
            "other": {"kind": "arrow", "base_url": "http://other.sim/index.php/api/", "api_key": SIM_TOKEN},
        }
    )
    async with httpx.AsyncClient(transport=HostRouter(sims)) as upstream:
        app = create_app(settings, client=upstream)
        async with app.router.lifespan_context(app):
            cache: MemoryReadCache = app.state.orders.cache
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://gw"
            ) as client:
                order = (
                    await client.get(
                        "/orders", params={"provider": "arrow", "limit": "50"}, headers=auth("ops")
                    )
                ).json()["data"]
                target = next(o for o in order if "cancel" in o["actions"])
                untouched = next(o for o in order if o["id"] != target["id"])
                entries = {
                    "the order": [order_tag("arrow", target["native_id"])],
                    "arrow listing": [listing_tag("arrow")],
                    "another order": [order_tag("arrow", untouched["native_id"])],
                    "other instance": [listing_tag("other")],
                }
                for key, tags in entries.items():
                    await put(cache, key, b"cached", ttl_s=60, tags=tags)
                history = await client.get(f"/orders/{target['id']}/history", headers=auth("ops"))
                assert history.status_code == 200
                assert await value(cache, "the order") == b"cached"  # a read evicts nothing
                cancelled = await client.post(f"/orders/{target['id']}/cancel", headers=auth("ops"))
                assert cancelled.status_code == 200
                assert await value(cache, "the order") is None
                assert await value(cache, "arrow listing") is None
                assert await value(cache, "another order") == b"cached"
                assert await value(cache, "other instance") == b"cached"
                await put(cache, "arrow listing", b"cached", ttl_s=60, tags=[listing_tag("arrow")])
                created = await client.post(
                    "/orders",
                    json={
                        "provider": "arrow",
                        "customer": target["customer"]["id"],
                        "items": [{"sku": target["items"][0]["id"], "quantity": 1}],
                    },
                    headers=auth("ops"),
                )
                assert created.status_code == 201
                assert await value(cache, "arrow listing") is None


async def test_memory_cache_entries_expire_and_evict_by_tag() -> None:
    now = [0.0]
    cache = MemoryReadCache(clock=lambda: now[0])
    await cache.put("a", CacheEntry(b"1", 0, 5, 5), ("t1", "t2"), (0, 0))
    await cache.put("b", CacheEntry(b"2", 0, 50, 50), ("t2",), (0,))
    assert (await cache.get("a")) == CacheEntry(b"1", 0, 5, 5)
    now[0] = 6
    assert await cache.get("a") is None and await value(cache, "b") == b"2"
    assert await cache.evict(["t2"]) == 1  # "a" expired already
    assert await cache.get("b") is None
