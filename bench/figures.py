"""From measured runs to table rows: medians, anchors, ratios and the issue's targets."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.session import DEEP_LIMIT, DEEP_PAGE, DEEP_WINDOW, UPSTREAM_LATENCY_MS, WALK_LIMIT, Session
from bench.table import Row
from bench.wrk import RunResult

MB = 1_000_000


@dataclass(frozen=True)
class Measured:
    runs: Sequence[RunResult]

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs)

    @property
    def p50(self) -> float:
        return statistics.median(r.p50_ms for r in self.runs)

    @property
    def p99(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)

    @property
    def cpu(self) -> tuple[Any, ...]:
        return tuple(r.cpu for r in self.runs)

    @property
    def note(self) -> str:
        errors = sum(r.errors for r in self.runs)
        text = f"p50 {self.p50:.1f} ms, p99 {self.p99:.1f} ms"
        return text + (f"; {errors} ERRORS" if errors else "")


def _ratio(value: float | None, anchor: float | None) -> float | None:
    if value is None or not anchor:
        return None
    return value / anchor


def throughput(
    section: str,
    figure: str,
    m: Measured,
    anchor: str = "",
    base: float | None = None,
    *,
    target: str = "",
    note: str | None = None,
) -> Row:
    """A req/s row, compared with ``base`` (the anchor's req/s) when there is an anchor."""
    ratio = _ratio(m.rps, base) if anchor else None
    return Row(section, figure, m.rps, "req/s", anchor, base, ratio, target, cpu=m.cpu, note=note or m.note)


def build_rows(session: Session, results: Mapping[str, Sequence[RunResult]]) -> list[Row]:
    walk, store = session.walk, session.store
    m = {key: Measured(runs) for key, runs in results.items()}
    rows: list[Row] = []
    a1, a2 = m["a1"], m["a2"]
    body_kb = len(session.list_body) / 1000

    section = "Anchors"
    rows.append(
        throughput(section, "A1 nginx, static file, 16 conn", a1, note=f"{body_kb:.1f} kB body; {a1.note}")
    )
    rows.append(
        throughput(
            section, "A2 bare Starlette, same bytes, 16 conn", a2, "A1", a1.rps, target="≈ 0.25 × A1 (issue)"
        )
    )
    a3h, a3a = m["a3-httpx-16"], m["a3-aiohttp-16"]
    rows.append(throughput(section, "A3 naive fan-out, httpx pool, 16 conn", a3h, "A3 aiohttp", a3a.rps))
    rows.append(throughput(section, "A3 naive fan-out, aiohttp transport, 16 conn", a3a))
    for transport in ("httpx", "aiohttp"):
        one = m[f"a3-{transport}-1"]
        overhead = one.p50 - UPSTREAM_LATENCY_MS
        rows.append(
            Row(
                section,
                f"A3 {transport}, 1 conn: p50 − {UPSTREAM_LATENCY_MS} ms",
                overhead,
                "ms",
                cpu=one.cpu,
                note=one.note,
            )
        )

    section = "1 Cache hit (16 conn)"
    order_kb = len(session.order_body) / 1000
    for key, figure, body in (
        ("hit-list", "GET /orders?limit=50 from cache", f"{body_kb:.1f} kB body"),
        ("hit-order", "GET /orders/{id} from cache", f"{order_kb:.1f} kB body"),
    ):
        hit = m[key]
        ratio = _ratio(hit.rps, a2.rps)
        rows.append(
            Row(
                section, figure, hit.rps, "req/s", "A2", a2.rps, ratio, "≥ 0.6 × A2",
                met=ratio is not None and ratio >= 0.6, cpu=hit.cpu,
                note=f"{_ratio(hit.rps, a1.rps) or 0:.2f} × A1; {body}; {hit.note}", source=key,
            )
        )  # fmt: skip

    quiet = m["hit-order-quiet"]
    rows.append(
        throughput(
            section, "GET /orders/{id} from cache, no access log (log_level: warning)", quiet, "A2", a2.rps,
            note=f"{_ratio(quiet.rps, m['hit-order'].rps) or 0:.2f} × with the access log; {quiet.note}",
        )
    )  # fmt: skip

    section = f"2 Fan-out (3 upstreams × {UPSTREAM_LATENCY_MS} ms, cache miss)"
    one, a3a1 = m["fan-1"], m["a3-aiohttp-1"]
    p50 = one.p50 - UPSTREAM_LATENCY_MS
    rows.append(
        Row(
            section, f"GET /orders, 1 conn: p50 − {UPSTREAM_LATENCY_MS} ms (overhead)", p50, "ms",
            "A3 aiohttp", a3a1.p50 - UPSTREAM_LATENCY_MS, _ratio(p50, a3a1.p50 - UPSTREAM_LATENCY_MS),
            "≤ 5 ms", met=p50 <= 5, cpu=one.cpu, note=one.note, source="fan-1",
        )
    )  # fmt: skip
    p99 = one.p99 - UPSTREAM_LATENCY_MS
    rows.append(
        Row(
            section, f"GET /orders, 1 conn: p99 − {UPSTREAM_LATENCY_MS} ms", p99, "ms",
            "A3 aiohttp", a3a1.p99 - UPSTREAM_LATENCY_MS, _ratio(p99, a3a1.p99 - UPSTREAM_LATENCY_MS), cpu=one.cpu,
        )
    )  # fmt: skip
    many = m["fan-16"]
    ratio = _ratio(many.rps, a3a.rps)
    rows.append(
        Row(
            section, "GET /orders, 16 conn: throughput", many.rps, "req/s", "A3 aiohttp", a3a.rps, ratio,
            "≥ 0.8 × A3 aiohttp", met=ratio is not None and ratio >= 0.8, cpu=many.cpu, note=many.note,
            source="fan-16",
        )
    )  # fmt: skip
    rows.append(
        Row(
            section,
            "GET /orders, 16 conn: throughput",
            many.rps,
            "req/s",
            "A3 httpx",
            a3h.rps,
            _ratio(many.rps, a3h.rps),
            cpu=many.cpu,
        )
    )

    section = f"3 Deep pagination (30,000 orders, limit {DEEP_LIMIT}, cache off, 1 conn)"
    page2, deep = m["deep-2"], m[f"deep-{DEEP_PAGE}"]
    ratio = _ratio(deep.p50, page2.p50)
    rows.append(Row(section, "page 2: p50", page2.p50, "ms", cpu=page2.cpu, note=page2.note))
    rows.append(
        Row(
            section, f"page {DEEP_PAGE}: p50", deep.p50, "ms", "page 2", page2.p50, ratio, "≤ 1.2 × page 2",
            met=ratio is not None and ratio <= 1.2, cpu=deep.cpu, note=deep.note, source=f"deep-{DEEP_PAGE}",
        )
    )  # fmt: skip
    if session.deep is not None:
        calls = session.deep.calls
        early = statistics.mean(calls[p] for p in range(2, 2 + DEEP_WINDOW))
        late = statistics.mean(calls[p] for p in range(DEEP_PAGE - DEEP_WINDOW + 1, DEEP_PAGE + 1))
        ratio = _ratio(late, early)
        rows.append(
            Row(
                section, f"upstream calls per page, pages {DEEP_PAGE - DEEP_WINDOW + 1}–{DEEP_PAGE} (mean)", late,
                "calls", f"pages 2–{DEEP_WINDOW + 1}", early, ratio, "same (ratio ≤ 1.05)",
                met=ratio is not None and ratio <= 1.05,
                note=f"page 2: {calls[2]} calls, page {DEEP_PAGE}: {calls[DEEP_PAGE]} calls",
            )
        )  # fmt: skip

    section = "4 Memory (RSS)"
    if walk is not None:
        growth = walk.rss_after - walk.rss_before
        rows.append(
            Row(
                section, f"walk of {walk.orders:,} orders, limit {WALK_LIMIT}, cache off: RSS growth", growth / MB, "MB",
                "RSS before", walk.rss_before / MB, _ratio(walk.rss_after, walk.rss_before), "< 30 MB",
                met=growth < 30 * MB, note=f"{walk.pages} pages in {walk.seconds:.0f} s; ratio: RSS after / before",
            )
        )  # fmt: skip
    if store is not None:
        growth = store["rss_after"] - store["rss_before"]
        bound = store["max_bytes"]
        rows.append(
            Row(
                section, f"memory store, {store['keys']:,} distinct keys of {store['value_bytes']} B: RSS growth",
                growth / MB, "MB", "max_bytes", bound / MB, _ratio(growth, bound), "≤ max_bytes",
                met=growth <= bound and store["accounted_bytes"] <= bound,
                note=f"in-process script; {store['kept']:,} entries kept, "
                f"{store['accounted_bytes'] / MB:.1f} MB accounted",
            )
        )  # fmt: skip

    section = "5 Writes (POST /orders to Arrow, 16 conn)"
    sim = m["create-sim"]
    rows.append(throughput(section, "upstream create alone (the simulator)", sim))
    for store_name in ("memory", "redis"):
        create, replay = m[f"create-{store_name}"], m[f"replay-{store_name}"]
        rows.append(throughput(section, f"create, {store_name} store", create, "simulator", sim.rps))
        rows.append(throughput(section, f"idempotent replay, {store_name} store", replay, "A2", a2.rps))

    section = "6 Scale-out (Redis store, haproxy, cache hit GET /orders?limit=50, 16 conn)"
    one_replica, two_replicas = m["scale-1"], m["scale-2"]
    rows.append(throughput(section, "1 gateway process", one_replica))
    rows.append(
        throughput(
            section, "2 gateway processes", two_replicas, "1 process", one_replica.rps,
            target="honest: 2 cores also run wrk, haproxy, Redis",
        )
    )  # fmt: skip
    return rows
