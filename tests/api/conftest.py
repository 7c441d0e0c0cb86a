from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.applications import Starlette

from gateway.sim.waldur import create_waldur_sim
from tests.support.stack import SIM_TOKEN, HostRouter, auth, gateway_client, gateway_settings, waldur_instance


@dataclass
class Deployment:
    client: httpx.AsyncClient
    sims: dict[str, Starlette]
    upstream: httpx.AsyncClient

    async def fault(self, host: str, **plan: object) -> None:
        response = await self.upstream.post(f"http://{host}/__sim__/faults", json=plan)
        assert response.status_code in (200, 201), response.text

    async def calls(self, host: str) -> int:
        """How many requests the simulator at ``host`` has seen."""
        return int((await self.upstream.get(f"http://{host}/__sim__/requests")).json()["total"])

    async def orders(self, headers: dict[str, str] | None = None, **params: str) -> httpx.Response:
        return await self.client.get("/orders", params=params, headers=headers or auth("reader"))


@pytest.fixture
async def deployment() -> AsyncIterator[Deployment]:
    sims = {
        "eu.waldur.sim": create_waldur_sim(orders=45, seed=11, token=SIM_TOKEN),
        "au.waldur.sim": create_waldur_sim(orders=30, seed=12, token=SIM_TOKEN),
    }
    upstream = httpx.AsyncClient(transport=HostRouter(sims))
    settings = gateway_settings(
        {
            "waldur-eu": waldur_instance(
                "eu.waldur.sim", public_url="https://waldur.example.org/api/", timeout_s=1
            ),
            "waldur-au": waldur_instance("au.waldur.sim", timeout_s=1),
        },
        server={"public_url": "https://gw.example.org", "request_timeout_s": 3},
    )
    async with upstream, gateway_client(settings, upstream) as client:
        yield Deployment(client, sims, upstream)
