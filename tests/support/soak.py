"""A bounded soak over loopback: one gateway process (``python -m gateway serve``, read cache on)
in front of the three simulators (in this process), under a mix of listing walks, reads,
creates with an Idempotency-Key and cancels, while faults are armed at random on the simulators.

What it checks (``SoakReport.violations``):

- no 5xx but 502/503/504, and those only for requests that overlapped armed faults (or the
  time the breakers stay open after them);
- no 4xx but the ones its requests may meet (a cancel the order's state or kind refuses, a
  create whose key is still being worked on);
- no order created twice: at the simulators, each idempotency key's marker is on at most one
  order, and the orders they gained are exactly the keys' orders;
- no order lost: a create is retried with the same key (as a careful client does: on 5xx, 409,
  429 and broken connections) until it answers 201, and every 201 is found afterwards, by
  ``GET /orders/{id}`` and at its simulator;
- the gateway's RSS is stable: at the end at most ``rss_growth_mb`` above its size after
  warm-up.

The short run is tests/e2e/test_soak_short.py; the long one, with its figures printed:

    .venv/bin/python -m tests.support.soak --minutes 5
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import re
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway.idempotency import order_marker
from gateway.sim.arrow import create_arrow_sim
from gateway.sim.ivcap import create_ivcap_sim
from gateway.sim.waldur import create_waldur_sim
from tests.support.credentials import API_KEYS, SIM_TOKEN, digest
from tests.support.replicas import running_replicas
from tests.support.servers import running_server

KEY_NAME = "soak"
KEY = API_KEYS[KEY_NAME]
PROVIDERS = ("waldur", "ivcap", "arrow")
FAULT_STATUSES = {502, 503, 504}
MARKER = re.compile(r"ogw-[0-9a-f]{20}")
# The gateway's limits in the soak: an upstream call gives up after TIMEOUT_S, a breaker stays
# open OPEN_S; a 502/503/504 is the faults' doing while they are armed and this long after.
TIMEOUT_S = 2.0
OPEN_S = 3.0
FAULT_GRACE_S = OPEN_S + TIMEOUT_S + 2.0
# What each kind of request may answer without a fault (5xx are judged against the faults).
EXPECTED = {
    "walk": {200},
    "read": {200, 304},
    "create": {201, 409},  # 409: the same key still in flight (a retry overlapping the first)
    "cancel": {200, 409, 422},  # 409: the state forbids it; 422: the kind has no cancel
}
# Faults armed on a simulator: each hits a share (`rate`) of its requests until the next change.
FAULTS: list[dict[str, Any]] = [
    {"status": 503, "retry_after": 1},
    {"status": 502},
    {"status": 500},
    {"drop": True},
    {"malformed": True},
    {"latency_ms": int(TIMEOUT_S * 1000) + 500},  # slower than the gateway waits: 504
]


@dataclass
class Outcome:
    kind: str
    status: int  # 0: the connection broke
    started: float
    ended: float
    detail: str = ""  # an error's problem type and detail


@dataclass
class SoakReport:
    duration_s: float
    outcomes: list[Outcome] = field(default_factory=list)
    fault_windows: list[tuple[float, float]] = field(default_factory=list)
    faults_armed: int = 0
    keys: dict[str, str | None] = field(default_factory=dict)  # idempotency key -> created id
    key_providers: dict[str, str] = field(default_factory=dict)  # idempotency key -> instance
    duplicates: dict[str, int] = field(default_factory=dict)  # idempotency key -> orders it made (> 1)
    create_attempts: int = 0
    found: int = 0
    gained_at_sims: int = 0
    markers_at_sims: Counter[str] = field(default_factory=Counter)
    rss_samples_mb: list[tuple[float, float]] = field(default_factory=list)
    rss_after_warmup_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_growth_mb: float = 50.0
    violations: list[str] = field(default_factory=list)
    duplicate_violations: list[str] = field(default_factory=list)  # those of ``violations`` about duplicates

    def figures(self) -> str:
        by_kind = Counter(o.kind for o in self.outcomes)
        statuses = Counter(o.status for o in self.outcomes)
        fault_5xx = sum(1 for o in self.outcomes if o.status in FAULT_STATUSES)
        created = sum(1 for v in self.keys.values() if v)
        twice = Counter(self.key_providers[key] for key in self.duplicates)
        peak = max((mb for _, mb in self.rss_samples_mb), default=0.0)
        return "\n".join(
            [
                f"soak: {self.duration_s:.0f} s, {len(self.outcomes)} requests "
                f"({len(self.outcomes) / max(self.duration_s, 1e-9):.0f}/s), "
                + ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items())),
                "  by status: " + ", ".join(f"{s or 'broken'} {n}" for s, n in sorted(statuses.items())),
                f"  faults armed {self.faults_armed} times; 502/503/504 while armed (allowed): {fault_5xx}",
                f"  creates: {len(self.keys)} keys, {self.create_attempts} attempts, {created} created (201), "
                f"{self.found} found afterwards; orders gained at the simulators {self.gained_at_sims}, "
                f"keys with more than one order {len(self.duplicates)}"
                + (f" ({', '.join(f'{p} {n}' for p, n in sorted(twice.items()))})" if twice else ""),
                f"  gateway RSS: {self.rss_after_warmup_mb:.1f} MB after warm-up, {self.rss_end_mb:.1f} MB "
                f"at the end, {peak:.1f} MB peak (limit: +{self.rss_growth_mb:.0f} MB)",
                "  RSS over time (s: MB): "
                + ", ".join(
                    f"{t:.0f}: {mb:.0f}"
                    for t, mb in self.rss_samples_mb[:: max(1, len(self.rss_samples_mb) // 10)]
                ),
                f"  violations: {len(self.violations)}" + "".join(f"\n    {v}" for v in self.violations[:20]),
            ]
        )


# --- The stack ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sim:
    url: str  # its root: the API and /__sim__/ are under it
    app: Any  # the Starlette app, whose ``state.store`` holds its orders


@contextmanager
def soak_stack(workdir: Path, *, orders: int = 300, seed: int = 1) -> Iterator[tuple[str, dict[str, Sim]]]:
    """The three simulators (in-process, on loopback) and one gateway process in front of them."""
    apps = {
        "waldur": create_waldur_sim(orders=orders, seed=seed, token=SIM_TOKEN),
        "ivcap": create_ivcap_sim(orders=orders, seed=seed + 1, token=SIM_TOKEN),
        "arrow": create_arrow_sim(orders=orders, seed=seed + 2, token=SIM_TOKEN),
    }
    with ExitStack() as stack:
        sims = {name: Sim(stack.enter_context(running_server(app)), app) for name, app in apps.items()}
        limits = {"timeout_s": TIMEOUT_S, "breaker": {"open_s": OPEN_S}}
        config = {
            "providers": {
                "waldur": {
                    "kind": "waldur",
                    "base_url": f"{sims['waldur'].url}/api/",
                    "token": "${OG_SIM_TOKEN}",
                    **limits,
                },
                "ivcap": {
                    "kind": "ivcap",
                    "base_url": f"{sims['ivcap'].url}/1/",
                    "token": "${OG_SIM_TOKEN}",
                    **limits,
                },
                "arrow": {
                    "kind": "arrow",
                    "base_url": f"{sims['arrow'].url}/index.php/api/",
                    "api_key": "${OG_SIM_TOKEN}",
                    **limits,
                },
            },
            "api_keys": [
                {
                    "name": KEY_NAME,
                    "sha256": digest(KEY),
                    "scopes": ["orders:read", "orders:write", "orders:admin"],
                }
            ],
            "rate_limit": {"requests": 1_000_000, "window_s": 1},
            "cursor": {"secret": "${OG_CURSOR_SECRET}"},
            # The read cache on, with a small bound: it fills during warm-up, so RSS growth after
            # that is not the cache filling up to its default 64 MiB.
            "cache": {"backend": "memory", "max_bytes": 4 * 1024 * 1024},
            "server": {"log_level": "warning", "request_timeout_s": 10},
        }
        (gateway,) = stack.enter_context(running_replicas(config, workdir, count=1))
        yield gateway, sims


def sim_orders(sim: Sim) -> dict[str, Any]:
    """The simulator's orders by native id (each store keeps them so)."""
    return dict(sim.app.state.store._orders)


def gateway_pid(url: str) -> int:
    """The pid of this process's child serving ``url`` (``python -m gateway serve --port N``)."""
    port = url.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and b"gateway" in argv and b"serve" in argv and port.encode() in argv:
            return int(entry.name)
    raise LookupError(f"no gateway process serving {url}")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no VmRSS for {pid}")


# --- The driver --------------------------------------------------------------------------------


class Soak:
    def __init__(
        self, gateway: str, sims: dict[str, Sim], *, duration_s: float, workers: int, seed: int
    ) -> None:
        self.gateway = gateway
        self.sims = sims
        self.duration_s = duration_s
        self.workers = workers
        self.rng = random.Random(seed)
        self.report = SoakReport(duration_s=duration_s)
        self.order_ids: list[str] = []
        self.bodies: dict[str, dict[str, Any]] = {}  # provider -> a valid create body
        self.key_bodies: dict[str, dict[str, Any]] = {}  # idempotency key -> its body
        self.armed_since: dict[str, float] = {}
        self.start = 0.0
        self.deadline = 0.0

    # Requests, each recorded.

    async def send(
        self, client: httpx.AsyncClient, kind: str, method: str, url: str, **kwargs: Any
    ) -> httpx.Response | None:
        started = time.monotonic()
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TransportError:
            self.report.outcomes.append(Outcome(kind, 0, started, time.monotonic()))
            return None
        detail = ""
        if response.status_code >= 400:
            problem = response.json() if "json" in response.headers.get("content-type", "") else {}
            detail = f"{method} {url}: {str(problem.get('type', '')).rsplit('/', 1)[-1]} {problem.get('detail', '')}"
        self.report.outcomes.append(
            Outcome(kind, response.status_code, started, time.monotonic(), detail[:200])
        )
        return response

    async def walk(self, client: httpx.AsyncClient) -> None:
        params: dict[str, Any] = {"limit": self.rng.choice([10, 25, 50])}
        if self.rng.random() < 0.5:
            params["provider"] = ",".join(self.rng.sample(PROVIDERS, self.rng.randint(1, 3)))
        if self.rng.random() < 0.3:
            params["status"] = self.rng.choice(["pending", "in_progress", "completed", "cancelled,failed"])
        for _ in range(self.rng.randint(1, 4)):
            response = await self.send(client, "walk", "GET", "/orders", params=params)
            if response is None or response.status_code != 200:
                return
            body = response.json()
            self.order_ids.extend(order["id"] for order in body["data"][:3])
            del self.order_ids[:-2000]
            if not body.get("next_cursor"):
                return
            params = {**params, "cursor": body["next_cursor"]}  # the same filters, as the API asks

    async def read(self, client: httpx.AsyncClient) -> None:
        if self.order_ids:
            await self.send(client, "read", "GET", f"/orders/{self.rng.choice(self.order_ids)}")

    async def cancel(self, client: httpx.AsyncClient) -> None:
        if self.order_ids:
            await self.send(client, "cancel", "POST", f"/orders/{self.rng.choice(self.order_ids)}/cancel")

    async def create(self, client: httpx.AsyncClient, *, until: float) -> None:
        """One create, as a careful client makes it: the same key and body until a 201 (or
        ``until``; the rest are finished after the faults are cleared, see ``finish_creates``)."""
        key = str(uuid.UUID(int=self.rng.getrandbits(128)))
        provider = self.rng.choice(PROVIDERS)
        body = {**self.bodies[provider], "name": f"soak {key[:8]}"}
        self.report.keys[key] = None
        self.report.key_providers[key] = provider
        await self.create_until(client, key, body, until)

    async def create_until(
        self, client: httpx.AsyncClient, key: str, body: dict[str, Any], until: float
    ) -> None:
        self.key_bodies[key] = body
        delay = 0.1
        while time.monotonic() < until:
            self.report.create_attempts += 1
            headers = {"Idempotency-Key": key}
            response = await self.send(client, "create", "POST", "/orders", json=body, headers=headers)
            if response is not None and response.status_code == 201:
                self.report.keys[key] = response.json()["id"]
                self.order_ids.append(response.json()["id"])
                return
            if response is not None and response.status_code < 500 and response.status_code not in (409, 429):
                return  # refused for good: a violation, reported from the outcomes
            retry_after = response.headers.get("retry-after") if response is not None else None
            wait = min(float(retry_after), 2.0) if retry_after and retry_after.isdigit() else delay
            await asyncio.sleep(wait * self.rng.uniform(0.5, 1.0))
            delay = min(delay * 2, 1.0)

    async def worker(self, client: httpx.AsyncClient) -> None:
        while time.monotonic() < self.deadline:
            choice = self.rng.random()
            if choice < 0.35:
                await self.walk(client)
            elif choice < 0.6:
                await self.read(client)
            elif choice < 0.8:
                await self.create(client, until=self.deadline)
            else:
                await self.cancel(client)

    # Faults.

    async def arm(self, client: httpx.AsyncClient, name: str, plan: dict[str, Any] | None) -> None:
        url = f"{self.sims[name].url}/__sim__/faults"
        now = time.monotonic()
        if name in self.armed_since:
            self.report.fault_windows.append((self.armed_since.pop(name), now))
        if plan is None:
            (await client.delete(url)).raise_for_status()
            return
        (await client.post(url, json=plan)).raise_for_status()
        self.armed_since[name] = now
        self.report.faults_armed += 1

    async def faults(self, client: httpx.AsyncClient) -> None:
        """Every 1.5-4 s one simulator's faults change: cleared, or a new plan at a random rate."""
        while time.monotonic() < self.deadline - 1:
            await asyncio.sleep(self.rng.uniform(1.5, 4.0))
            name = self.rng.choice(PROVIDERS)
            if self.rng.random() < 0.4:
                await self.arm(client, name, None)
            else:
                plan = {**self.rng.choice(FAULTS), "rate": round(self.rng.uniform(0.1, 0.5), 2)}
                await self.arm(client, name, {**plan, "seed": self.rng.randrange(1 << 30)})
        for name in PROVIDERS:
            await self.arm(client, name, None)

    async def sample_rss(self, pid: int) -> None:
        while time.monotonic() < self.deadline:
            self.report.rss_samples_mb.append((time.monotonic() - self.start, rss_mb(pid)))
            await asyncio.sleep(1.0)

    # The run.

    async def prepare(self, client: httpx.AsyncClient) -> None:
        """Create bodies from orders each instance already has; a first walk fills the id pool."""
        for provider in PROVIDERS:
            response = await client.get("/orders", params={"provider": provider, "limit": 200})
            response.raise_for_status()
            orders = response.json()["data"]
            self.order_ids.extend(order["id"] for order in orders)
            self.bodies[provider] = create_body(provider, orders)

    async def run(self, pid: int) -> SoakReport:
        limits = httpx.Limits(max_connections=self.workers * 2, max_keepalive_connections=self.workers * 2)
        headers = {"Authorization": f"Bearer {KEY}"}
        async with (
            httpx.AsyncClient(base_url=self.gateway, headers=headers, timeout=30, limits=limits) as client,
            httpx.AsyncClient(timeout=10) as control,
        ):
            await self.prepare(client)
            self.start = time.monotonic()
            self.deadline = self.start + self.duration_s
            warmup = self.start + min(30.0, self.duration_s / 4)
            await asyncio.gather(
                *(self.worker(client) for _ in range(self.workers)),
                self.faults(control),
                self.sample_rss(pid),
                self.note_warmup(pid, warmup),
            )
            self.report.rss_end_mb = rss_mb(pid)
            await self.finish(client)
        return self.report

    async def note_warmup(self, pid: int, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        self.report.rss_after_warmup_mb = rss_mb(pid)

    async def finish(self, client: httpx.AsyncClient) -> None:
        """Faults are cleared: once the breakers have closed again, finish every create still
        without its 201 (the same key), then look every created order up."""
        await asyncio.sleep(OPEN_S + 0.5)
        pending = [key for key, created in self.report.keys.items() if created is None]
        await asyncio.gather(
            *(self.create_until(client, k, self.key_bodies[k], time.monotonic() + 30) for k in pending)
        )
        for key, created in self.report.keys.items():
            if created is None:
                continue
            response = await client.get(f"/orders/{created}")
            if response.status_code == 200 and response.json()["id"] == created:
                self.report.found += 1
            else:
                self.report.violations.append(
                    f"created {created} (key {key}) not found: {response.status_code}"
                )


def create_body(provider: str, orders: list[dict[str, Any]]) -> dict[str, Any]:
    """A valid create body for ``provider``, built from one of its orders (as the API tests do)."""
    if provider == "waldur":
        sample = next(o for o in orders if o["extra"].get("project_uuid") and o["extra"].get("plan_uuid"))
        return {
            "provider": "waldur",
            "service": sample["service"]["id"],
            "customer": sample["extra"]["project_uuid"],
            "items": [
                {"id": i["name"], "quantity": i["quantity"]} for i in sample["items"] if ":" in i["id"]
            ],
            "provider_options": {"plan": sample["extra"]["plan_uuid"]},
        }
    if provider == "ivcap":
        return {"provider": "ivcap", "service": orders[0]["service"]["id"], "parameters": {"region": "North"}}
    sample = next(o for o in orders if o["items"])
    return {
        "provider": "arrow",
        "customer": sample["customer"]["id"],
        "items": [{"sku": sample["items"][0]["id"], "quantity": 1}],
    }


def judge(report: SoakReport, before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> None:
    """Fill in the simulators' side and every violation."""
    windows = report.fault_windows
    for outcome in report.outcomes:
        if outcome.status >= 500 or outcome.status == 0:
            near_faults = any(s <= outcome.ended and outcome.started <= e + FAULT_GRACE_S for s, e in windows)
            if outcome.status not in FAULT_STATUSES or not near_faults:
                report.violations.append(
                    f"{outcome.kind} answered {outcome.status or 'a broken connection'} "
                    f"at {outcome.started - windows[0][0] if windows else outcome.started:.1f} s"
                    + ("" if near_faults else " with no fault armed")
                    + f" ({outcome.detail})"
                )
        elif outcome.status not in EXPECTED[outcome.kind]:
            report.violations.append(f"{outcome.kind} answered {outcome.status} ({outcome.detail})")
    # The simulators: which orders are new, and which key's marker each carries.
    markers = {order_marker(KEY_NAME, key): key for key in report.keys}
    gained: list[Any] = []
    for name, orders in after.items():
        gained += [order for native_id, order in orders.items() if native_id not in before[name]]
    report.gained_at_sims = len(gained)
    for order in gained:
        found = {m for m in MARKER.findall(repr(order)) if m in markers}
        if len(found) != 1:
            report.violations.append(
                f"an order at a simulator carries {len(found)} soak markers: {repr(order)[:120]}"
            )
        report.markers_at_sims.update(found)
    for marker, count in report.markers_at_sims.items():
        if count > 1:
            key = markers[marker]
            report.duplicates[key] = count
            report.violations.append(f"key {key} ({report.key_providers[key]}) created {count} orders")
            report.duplicate_violations.append(report.violations[-1])
    for key, created in report.keys.items():
        if created is None:
            report.violations.append(f"key {key} never answered 201")
        elif report.markers_at_sims[order_marker(KEY_NAME, key)] == 0:
            report.violations.append(f"key {key}: its order {created} is not at its simulator")
    growth = report.rss_end_mb - report.rss_after_warmup_mb
    if growth > report.rss_growth_mb:
        report.violations.append(f"gateway RSS grew {growth:.1f} MB after warm-up")


def run_soak(
    duration_s: float, *, workers: int = 8, seed: int = 1, orders: int = 300, rss_growth_mb: float = 50.0
) -> SoakReport:
    """Start the stack, soak it for ``duration_s``, judge; the report holds figures and violations.
    ``rss_growth_mb``: how much the gateway's RSS may grow after warm-up."""
    with (
        tempfile.TemporaryDirectory(prefix="soak-") as workdir,
        soak_stack(Path(workdir), orders=orders, seed=seed) as stack,
    ):
        gateway, sims = stack
        before = {name: sim_orders(sim) for name, sim in sims.items()}
        soak = Soak(gateway, sims, duration_s=duration_s, workers=workers, seed=seed)
        soak.report.rss_growth_mb = rss_growth_mb
        report = asyncio.run(soak.run(gateway_pid(gateway)))
        judge(report, before, {name: sim_orders(sim) for name, sim in sims.items()})
        return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    # The simulators log every request a fault cut short (the gateway gave up on it): noise here.
    logging.getLogger("uvicorn.error").disabled = True
    report = run_soak(arguments.minutes * 60, workers=arguments.workers, seed=arguments.seed)
    print(report.figures())
    raise SystemExit(1 if report.violations else 0)


if __name__ == "__main__":
    main()
