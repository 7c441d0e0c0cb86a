"""Two gateway processes sharing one real Redis: 50 identical keyed POSTs create one order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.sim.arrow import create_arrow_sim
from tests.support.credentials import API_KEYS, SIM_TOKEN
from tests.support.replicas import api_key, arrow_instance, running_replicas, shared_config
from tests.support.servers import running_server

pytestmark = pytest.mark.e2e
KEY = API_KEYS["replica"]


@pytest.fixture
def replicas(tmp_path: Path, redis_url: str) -> Iterator[tuple[list[str], object]]:
    sim = create_arrow_sim(orders=20, seed=51, token=SIM_TOKEN)
    with running_server(sim) as sim_url:
        config = shared_config(
            {"arrow": arrow_instance(sim_url, timeout_s=5)},
            [api_key("ops", KEY, ["orders:read", "orders:write"])],
            redis_url,
        )
        with running_replicas(config, tmp_path) as urls:
            yield urls, sim


def test_fifty_identical_keyed_posts_over_two_replicas_create_one_order(
    replicas: tuple[list[str], object],
) -> None:
    urls, sim = replicas
    store = sim.state.store  # type: ignore[attr-defined]
    before = len(store)
    sample = next(o for o in store)
    body = {
        "provider": "arrow",
        "customer": sample.customer.reference,
        "items": [{"sku": sample.products[0].offer.sku, "quantity": 1}],
    }
    headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": "fifty-at-once"}

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *(client.post(f"{urls[i % 2]}/orders", json=body, headers=headers) for i in range(50))
            )

    responses = asyncio.run(fire())
    statuses = {r.status_code for r in responses}
    assert statuses <= {201, 409}, [r.text for r in responses if r.status_code not in (201, 409)]
    created = [r for r in responses if r.status_code == 201]
    assert created and len({r.content for r in created}) == 1
    assert len(store) == before + 1
    # Afterwards, either replica replays the one answer.
    for url in urls:
        again = httpx.post(f"{url}/orders", json=body, headers=headers)
        assert again.status_code == 201 and again.content == created[0].content
    assert len(store) == before + 1
