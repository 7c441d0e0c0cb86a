"""Read-cache benchmark: one page of orders through the gateway, cache hit vs cache miss.

Starts, as separate processes, a simulated Waldur (with a fixed upstream latency) and two
gateways on it — one caching reads (``ttl_s: 60``), one not (``ttl_s: 0``) — then drives
each with the same closed-loop load and prints requests/s and latency percentiles. The
anchor, measured in the same run under the same load, is the simulator itself: a cache hit
should beat it (no upstream call at all), a miss should cost it plus the gateway's overhead.

    .venv/bin/python -m bench.cache_hit_vs_miss [--seconds 5] [--concurrency 16] [--rounds 3]

Figures are medians over rounds; the machine is shared by the load generator, the gateway
and the simulator, so compare ratios rather than absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

KEY = "bench-key-0000000000000001"
SIM_TOKEN = "bench-sim-token"
PATH = "/orders?provider=waldur&limit=20"
SIM_PATH = "/api/marketplace-orders/?page_size=20"


@dataclass(frozen=True)
class Figures:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def process(args: list[str], ready_url: str, env: dict[str, str] | None = None) -> Iterator[None]:
    proc = subprocess.Popen(
        args, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(_host_port(ready_url), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{args[3]} did not start") from None
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def gateway_config(sim_url: str, ttl_s: float) -> dict[str, object]:
    return {
        "providers": {
            "waldur": {
                "kind": "waldur",
                "base_url": f"{sim_url}/api/",
                "token": "${BENCH_SIM_TOKEN}",
                "cache": {"ttl_s": ttl_s},
            }
        },
        "api_keys": [
            {
                "name": "bench",
                "sha256": hashlib.sha256(KEY.encode()).hexdigest(),
                "scopes": ["orders:read"],
                "rate_limit": {"requests": 1_000_000, "window_s": 1},
            }
        ],
    }


async def drive(url: str, headers: dict[str, str], seconds: float, concurrency: int) -> Figures:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                start = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - start)

        begun = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - begun
    latencies.sort()
    return Figures(
        rps=len(latencies) / elapsed,
        p50_ms=latencies[len(latencies) // 2] * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99)] * 1000,
        errors=errors,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--upstream-latency-ms", type=int, default=20)
    args = parser.parse_args()

    python = sys.executable
    sim_port, hit_port, miss_port = free_port(), free_port(), free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    env = {"BENCH_SIM_TOKEN": SIM_TOKEN}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        sim_args = ["--orders", "500", "--token", SIM_TOKEN, "--latency-ms", str(args.upstream_latency_ms)]
        stack.enter_context(
            process([python, "-m", "gateway", "sim", "waldur", "--port", str(sim_port), *sim_args], sim_url)
        )
        targets = {"upstream (anchor)": (f"{sim_url}{SIM_PATH}", {"Authorization": f"Token {SIM_TOKEN}"})}
        for name, port, ttl in (
            ("gateway, cache hit", hit_port, 60.0),
            ("gateway, cache miss", miss_port, 0.0),
        ):
            path = Path(tmp) / f"{port}.yaml"
            path.write_text(yaml.safe_dump(gateway_config(sim_url, ttl)))
            url = f"http://127.0.0.1:{port}"
            command = [python, "-m", "gateway", "serve", "--config", str(path), "--port", str(port)]
            stack.enter_context(process(command, url, env))
            targets[name] = (f"{url}{PATH}", {"Authorization": f"Bearer {KEY}"})

        results: dict[str, list[Figures]] = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, (url, headers) in targets.items():
                asyncio.run(drive(url, headers, 0.5, args.concurrency))  # warm up: connections, cache
                results[name].append(asyncio.run(drive(url, headers, args.seconds, args.concurrency)))

    anchor = statistics.median(f.rps for f in results["upstream (anchor)"])
    print(
        f"GET one page of 20 orders; upstream latency {args.upstream_latency_ms} ms; "
        f"{args.concurrency} concurrent; median of {args.rounds} rounds of {args.seconds:g} s"
    )
    print(f"{'target':<22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'vs anchor':>10}")
    for name, figures in results.items():
        rps = statistics.median(f.rps for f in figures)
        p50 = statistics.median(f.p50_ms for f in figures)
        p99 = statistics.median(f.p99_ms for f in figures)
        errors = sum(f.errors for f in figures)
        print(f"{name:<22} {rps:>9.0f} {p50:>8.1f} {p99:>8.1f} {errors:>7} {rps / anchor:>9.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
