"""Two gateway processes sharing one real Redis: 50 identical keyed POSTs create one order."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.sim.arrow import create_arrow_sim
from tests.support.servers import running_server

pytestmark = pytest.mark.e2e
KEY = "replica-test-key-0001"
SIM_TOKEN = "replica-sim-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def replicas(tmp_path: Path, redis_url: str) -> Iterator[tuple[list[str], object]]:
    sim = create_arrow_sim(orders=20, seed=51, token=SIM_TOKEN)
    with running_server(sim) as sim_url:
        config = {
            "providers": {
                "arrow": {
                    "kind": "arrow",
                    "base_url": f"{sim_url}/index.php/api/",
                    "api_key": "${OG_ARROW_KEY}",
                    "timeout_s": 5,
                }
            },
            "api_keys": [
                {
                    "name": "ops",
                    "sha256": hashlib.sha256(KEY.encode()).hexdigest(),
                    "scopes": ["orders:read", "orders:write"],
                }
            ],
            "cache": {"backend": "redis", "url": redis_url},
            "cursor": {"secret": "${OG_CURSOR_SECRET}"},
        }
        path = tmp_path / "gateway.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {**os.environ, "OG_ARROW_KEY": SIM_TOKEN, "OG_CURSOR_SECRET": "shared-cursor-secret"}
        ports = [free_port(), free_port()]
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--config", str(path), "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for port in ports
        ]
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            deadline = time.monotonic() + 30
            for url in urls:
                while True:
                    try:
                        if httpx.get(f"{url}/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "a gateway replica did not start"
                    time.sleep(0.1)
            yield urls, sim
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=15)


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
