"""A gateway with an in-memory span exporter in front of a simulated Waldur whose incoming
request headers are recorded, and a Prometheus text parser over its ``/metrics``."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.app import create_app
from gateway.sim.waldur import create_waldur_sim
from gateway.telemetry import build_telemetry
from tests.support.stack import KEYS, SIM_TOKEN, HostRouter, auth, gateway_settings, waldur_instance

HOST = "eu.waldur.sim"
INSTANCE = "waldur-eu"
LIST_PATH = "/api/marketplace-orders/"
FAST_RETRY = {"attempts": 3, "base_delay_s": 0.01, "max_delay_s": 0.05, "retry_after_cap_s": 0.2}


class HeaderTap:
    """ASGI wrapper: the headers of every request the simulator gets (its controls aside)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests: list[dict[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/__sim__/"):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            self.requests.append(headers)
        await self.app(scope, receive, send)


@dataclass
class Rig:
    client: httpx.AsyncClient
    upstream: httpx.AsyncClient
    sim: Starlette
    tap: HeaderTap
    exporter: InMemorySpanExporter
    app: Starlette

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    async def fault(self, **plan: object) -> None:
        response = await self.upstream.post(f"http://{HOST}/__sim__/faults", json=plan)
        assert response.status_code in (200, 201), response.text

    async def metrics(self) -> Metrics:
        response = await self.client.get("/metrics", headers=auth("ops"))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        return Metrics(response.text)


class Metrics:
    """Samples of one scrape, parsed by prometheus_client's own text parser."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.samples = [sample for family in self.families.values() for sample in family.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called ``name`` whose labels include ``labels`` (0 if none)."""
        return sum(
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def label_values(self, name: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.samples if s.name == name and label in s.labels}


def api_keys(rate_limits: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The test keys of ``tests.support.stack``, some with a rate limit of their own."""
    return [
        {"name": name, "sha256": hashlib.sha256(key.encode()).hexdigest(), "scopes": scopes}
        | ({"providers": allowed} if allowed else {})
        | ({"rate_limit": rate_limits[name]} if name in rate_limits else {})
        for name, (key, scopes, allowed) in KEYS.items()
        if allowed is None or allowed == [INSTANCE]
    ]


@asynccontextmanager
async def telemetry_rig(
    *,
    instance: dict[str, Any] | None = None,
    rate_limits: dict[str, dict[str, Any]] | None = None,
    **extra: Any,
) -> AsyncIterator[Rig]:
    sim = create_waldur_sim(orders=12, seed=71, token=SIM_TOKEN)
    tap = HeaderTap(sim)
    settings = gateway_settings(
        {INSTANCE: waldur_instance(HOST, **{"retry": FAST_RETRY, **(instance or {})})},
        api_keys=api_keys(rate_limits or {}),
        **extra,
    )
    exporter = InMemorySpanExporter()
    telemetry = build_telemetry(settings.telemetry, span_exporter=exporter)
    async with httpx.AsyncClient(transport=HostRouter({HOST: tap})) as upstream:
        app = create_app(settings, client=upstream, telemetry=telemetry)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
                yield Rig(client, upstream, sim, tap, exporter, app)
        telemetry.shutdown()
