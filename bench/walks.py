"""Walking a gateway's cursor: the cursors of deep pages, upstream calls per page, RSS on a long walk."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from bench.fleet import READ_KEY, bearer
from bench.processes import Server, rss_bytes


def _sim_root(server: Server) -> str:
    parts = urlsplit(server.url)  # a simulator's url is its API's base URL
    return f"{parts.scheme}://{parts.netloc}"


def upstream_calls(client: httpx.Client, sims: Mapping[str, Server]) -> int:
    """Requests the simulators have seen so far (the gateway never calls ``/__sim__/``)."""
    total = 0
    for server in sims.values():
        answer = client.get(f"{_sim_root(server)}/__sim__/requests")
        answer.raise_for_status()
        total += int(answer.json()["total"])
    return total


@dataclass(frozen=True)
class DeepWalk:
    cursors: dict[int, str]  # page -> the cursor that asks for it
    calls: dict[int, int]  # page -> upstream calls the gateway made for it


def walk_pages(gateway: Server, sims: Mapping[str, Server], limit: int, pages: int) -> DeepWalk:
    """Walk the first ``pages`` pages of ``limit`` orders; every cursor and each page's
    upstream calls (counted at the simulators; the gateway must not cache)."""
    cursors: dict[int, str] = {}
    calls: dict[int, int] = {}
    params: dict[str, str] = {"limit": str(limit)}
    with httpx.Client(headers=bearer(READ_KEY), timeout=60) as client:
        seen = upstream_calls(client, sims)
        for page in range(1, pages + 1):
            answer = client.get(f"{gateway.url}/orders", params=params)
            answer.raise_for_status()
            now = upstream_calls(client, sims)
            calls[page], seen = now - seen, now
            body = answer.json()
            if not body["has_more"]:
                raise RuntimeError(f"the walk ended at page {page}, before page {pages}")
            params = {"limit": str(limit), "cursor": body["next_cursor"]}
            cursors[page + 1] = body["next_cursor"]
    return DeepWalk(cursors, calls)


@dataclass(frozen=True)
class WalkMemory:
    orders: int
    pages: int
    rss_before: int  # bytes, after the first pages (imports, pools and buffers warmed)
    rss_after: int
    seconds: float


def walk_memory(gateway: Server, limit: int, *, warm_pages: int = 2) -> WalkMemory:
    """Walk the whole listing with pages of ``limit``; the gateway's RSS before and after."""
    params: dict[str, str] = {"limit": str(limit)}
    orders = pages = 0
    rss_before = rss_bytes(gateway.pid)
    started = time.monotonic()
    with httpx.Client(headers=bearer(READ_KEY), timeout=60) as client:
        while True:
            answer = client.get(f"{gateway.url}/orders", params=params)
            answer.raise_for_status()
            body = answer.json()
            orders += len(body["data"])
            pages += 1
            if pages == warm_pages:
                rss_before = rss_bytes(gateway.pid)
            if not body["has_more"]:
                break
            params = {"limit": str(limit), "cursor": body["next_cursor"]}
    return WalkMemory(orders, pages, rss_before, rss_bytes(gateway.pid), time.monotonic() - started)
