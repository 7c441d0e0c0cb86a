"""``GET /metrics``: Prometheus text that prometheus_client's parser reads, counters that move
with requests (upstream calls, cache, 429, replays, unknown statuses), the breaker's state,
and who may read it."""

from __future__ import annotations

from gateway.sim.waldur_data import WaldurStore
from tests.support.stack import auth
from tests.support.telemetry import INSTANCE, LIST_PATH, telemetry_rig

ROUTES = {"/orders", "/orders/{order_id}", "/orders/{order_id}/cancel", "/metrics"}
BREAKER = {"min_calls": 3, "failure_rate": 0.5, "window_s": 30, "open_s": 30}


async def test_metrics_parse_and_move_as_requests_are_made() -> None:
    async with telemetry_rig(
        instance={"breaker": BREAKER, "retry": {"attempts": 1}},
        rate_limits={"editor": {"requests": 1, "window_s": 600}},
    ) as rig:
        before = await rig.metrics()
        assert before.value("gateway_circuit_state", instance=INSTANCE, state="closed") == 1
        assert before.value("gateway_circuit_state", instance=INSTANCE, state="open") == 0

        listing = await rig.client.get("/orders", params={"limit": "3"}, headers=auth("reader"))
        assert listing.status_code == 200 and listing.headers["x-cache"] == "MISS"
        again = await rig.client.get("/orders", params={"limit": "3"}, headers=auth("reader"))
        assert again.headers["x-cache"] == "HIT"

        # An order whose state the gateway has no row for: read, counted, mapped to the fallback.
        order = listing.json()["data"][0]
        store: WaldurStore = rig.sim.state.store
        stored = store.get(order["native_id"])
        assert stored is not None
        stored.state = "quarantined"
        read = await rig.client.get(f"/orders/{order['id']}", headers=auth("ops"))
        assert read.status_code == 200 and read.json()["provider_status"] == "quarantined"

        # A keyed write, then the same again: the second is a replay.
        keyed = {**auth("ops"), "Idempotency-Key": "metrics-replay-1"}
        first = await rig.client.post(f"/orders/{order['id']}/cancel", headers=keyed)
        replayed = await rig.client.post(f"/orders/{order['id']}/cancel", headers=keyed)
        assert first.status_code < 500 and replayed.headers["idempotent-replayed"] == "true"

        # The editor key may make one request per 10 minutes.
        assert (await rig.client.get("/orders", headers=auth("editor"))).status_code == 200
        assert (await rig.client.get("/orders", headers=auth("editor"))).status_code == 429

        # Upstream failures open the breaker; then the listing is refused without a call.
        await rig.fault(status=500, count=20, path=LIST_PATH)
        failures = 0
        for limit in range(4, 20):  # other queries: each misses the cache
            failed = await rig.client.get("/orders", params={"limit": str(limit)}, headers=auth("reader"))
            if failed.status_code == 503:
                break
            assert failed.status_code == 502
            failures += 1
        assert 1 <= failures < 16
        # Refetching a cached page now fails at the breaker: the stale entry answers.
        stale = await rig.client.get(
            "/orders", params={"limit": "3"}, headers={**auth("ops"), "Cache-Control": "no-cache"}
        )
        assert stale.status_code == 200 and stale.headers["x-cache"] == "STALE"

        after = await rig.metrics()

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    requests = "gateway_http_requests_total"
    assert delta(requests, route="/orders", method="GET", status="200") == 4
    assert delta(requests, route="/orders", method="GET", status="502") == failures
    assert delta(requests, route="/orders", method="GET", status="503") == 1
    assert delta(requests, route="/orders", method="GET", status="429") == 1  # refused before routing
    assert delta(requests, route="/orders/{order_id}", method="GET", status="200") == 1
    assert delta(requests, route="/orders/{order_id}/cancel", method="POST") == 2
    assert delta(requests, route="/metrics", status="200") == 1  # the first scrape
    assert after.label_values(requests, "route") <= ROUTES  # templates, never raw paths
    assert delta("gateway_http_request_duration_seconds_count", route="/orders", status="200") == 4
    assert after.families["gateway_http_request_duration_seconds"].type == "histogram"

    upstream = "gateway_upstream_call_duration_seconds_count"
    assert delta(upstream, instance=INSTANCE, kind="waldur", operation="list_orders", outcome="ok") == 2
    assert delta(upstream, instance=INSTANCE, operation="get_order", outcome="ok") == 1
    assert delta(upstream, instance=INSTANCE, operation="list_orders") - 2 == failures  # none when open
    assert delta("gateway_upstream_http_requests_total", instance=INSTANCE, status="500") == failures

    cache = "gateway_cache_reads_total"
    # Answers only (a failed fill is no answer): two listings and the order read.
    assert delta(cache, instance=INSTANCE, outcome="miss") == 3
    assert delta(cache, instance=INSTANCE, outcome="hit") == 1
    assert delta(cache, instance=INSTANCE, outcome="stale") == 1

    assert after.value("gateway_circuit_state", instance=INSTANCE, state="open") == 1
    assert after.value("gateway_circuit_state", instance=INSTANCE, state="closed") == 0
    assert delta("gateway_rate_limited_total", key="editor") == 1
    assert delta("gateway_idempotent_replays_total") == 1
    # Each order read from the upstream with that state: the read, then the editor's listing.
    assert delta("gateway_upstream_unknown_status_total", instance=INSTANCE) == 2


async def test_metrics_need_the_admin_scope_by_default() -> None:
    async with telemetry_rig() as rig:
        assert (await rig.client.get("/metrics")).status_code == 401
        forbidden = await rig.client.get("/metrics", headers=auth("editor"))
        assert forbidden.status_code == 403
        assert forbidden.headers["content-type"] == "application/problem+json"
        assert (await rig.client.get("/metrics", headers=auth("ops"))).status_code == 200


async def test_metrics_may_be_public_or_off() -> None:
    async with telemetry_rig(telemetry={"metrics_access": "public"}) as rig:
        response = await rig.client.get("/metrics")
        assert response.status_code == 200 and "gateway_http_requests_total" in response.text
    async with telemetry_rig(telemetry={"metrics_access": "off"}) as rig:
        off = await rig.client.get("/metrics", headers=auth("ops"))
        assert off.status_code == 404 and off.json()["type"].endswith("/not-found")


async def test_labels_stay_few_whatever_callers_send() -> None:
    async with telemetry_rig() as rig:
        for n in range(3):
            await rig.client.request(f"BREW{n}", "/orders", headers=auth("reader"))
            await rig.client.get(f"/no/such/path/{n}", headers=auth("reader"))
            await rig.client.get(f"/orders/{INSTANCE}:{n:032x}", headers=auth("reader"))
        metrics = await rig.metrics()
    requests = "gateway_http_requests_total"
    assert metrics.value(requests, route="/orders", method="_OTHER", status="405") == 3
    assert metrics.value(requests, route="unmatched", method="GET", status="404") == 3
    assert metrics.value(requests, route="/orders/{order_id}", method="GET", status="404") == 3
    assert metrics.label_values(requests, "method") == {"_OTHER", "GET"}
