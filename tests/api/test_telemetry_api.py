"""Traces through HTTP: the server span continues the caller's ``traceparent``, one span per
adapter call and one client span per upstream request, the trace sent on to the simulator;
the trace id in problem bodies. In-memory span exporter, one per test."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from tests.support.credentials import UNKNOWN_KEY
from tests.support.stack import SIM_TOKEN, auth
from tests.support.telemetry import HOST, INSTANCE, LIST_PATH, telemetry_rig

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def only(spans: list[ReadableSpan]) -> ReadableSpan:
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def hex_span(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.span_id, "016x")


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_a_callers_trace_is_continued_and_sent_to_the_upstream() -> None:
    async with telemetry_rig() as rig:
        headers = {
            **auth("reader"),
            "traceparent": f"00-{TRACE}-{CALLER_SPAN}-01",
            "tracestate": "vendor=abc",
        }
        response = await rig.client.get("/orders", params={"limit": "5"}, headers=headers)
        assert response.status_code == 200, response.text
        spans = rig.spans()

        server = only([s for s in spans if s.kind == SpanKind.SERVER])
        assert server.context is not None and format(server.context.trace_id, "032x") == TRACE
        assert server.parent is not None and server.parent.is_remote
        assert format(server.parent.span_id, "016x") == CALLER_SPAN
        assert server.name == "GET /orders"
        assert server.attributes is not None
        assert server.attributes["http.route"] == "/orders"
        assert server.attributes["http.response.status_code"] == 200

        calls = [s for s in spans if s.name == f"list_orders {INSTANCE}"]
        assert calls and all(parent_of(c) == server.context.span_id for c in calls)
        for call in calls:
            assert call.attributes is not None
            assert call.attributes["provider"] == INSTANCE
            assert call.attributes["provider.kind"] == "waldur"
            assert call.attributes["gateway.cache"] == "miss"
            assert call.attributes["gateway.upstream.retries"] == 0

        clients = [s for s in spans if s.kind == SpanKind.CLIENT]
        call_ids = {c.context.span_id for c in calls if c.context is not None}
        assert len(clients) == len(rig.tap.requests) >= 1
        for client in clients:
            assert parent_of(client) in call_ids
            attributes = client.attributes
            assert attributes is not None
            assert attributes["provider"] == INSTANCE and attributes["provider.kind"] == "waldur"
            assert attributes["http.request.method"] == "GET"
            assert attributes["http.response.status_code"] == 200
            assert attributes["server.address"] == HOST
            assert attributes["url.full"] == f"http://{HOST}{LIST_PATH}"  # no query string
            assert attributes["gateway.cache"] == "miss"
            assert "http.request.resend_count" not in attributes

        # What the simulator received: the same trace, each request's parent its client span.
        sent = [request["traceparent"].split("-") for request in rig.tap.requests]
        assert {trace for _, trace, _, _ in sent} == {TRACE}
        assert sorted(parent for _, _, parent, _ in sent) == sorted(hex_span(c) for c in clients)
        assert {flags for *_, flags in sent} == {"01"}
        assert {request["tracestate"] for request in rig.tap.requests} == {"vendor=abc"}
        # No credential in any span.
        assert not any(SIM_TOKEN in repr(dict(s.attributes or {})) for s in spans)


async def test_a_new_trace_is_started_and_a_problem_names_it() -> None:
    async with telemetry_rig() as rig:
        missing = f"{INSTANCE}:" + "0" * 32
        response = await rig.client.get(f"/orders/{missing}", headers=auth("reader"))
        assert response.status_code == 404
        server = only([s for s in rig.spans() if s.kind == SpanKind.SERVER])
        assert server.parent is None and server.context is not None
        trace_id = format(server.context.trace_id, "032x")
        assert response.json()["trace_id"] == trace_id
        assert response.json()["instance"] == response.headers["x-request-id"]
        assert server.name == "GET /orders/{order_id}"
        assert server.status.status_code == StatusCode.UNSET  # a 404 is the caller's error
        assert [r["traceparent"].split("-")[1] for r in rig.tap.requests] == [trace_id]
        # The upstream's 404 is an error of the client span, and of the adapter call.
        client = only([s for s in rig.spans() if s.kind == SpanKind.CLIENT])
        assert client.attributes is not None and client.attributes["http.response.status_code"] == 404
        assert client.status.status_code == StatusCode.ERROR
        call = only([s for s in rig.spans() if s.name == f"get_order {INSTANCE}"])
        assert call.attributes is not None and call.attributes["error.type"] == "order-not-found"


async def test_problems_before_routing_carry_the_trace_id_too() -> None:
    async with telemetry_rig() as rig:
        headers = {"Authorization": f"Bearer {UNKNOWN_KEY}", "traceparent": f"00-{TRACE}-{CALLER_SPAN}-01"}
        response = await rig.client.get("/orders", headers=headers)
        assert response.status_code == 401
        assert response.json()["trace_id"] == TRACE
        server = only(rig.spans())
        assert server.name == "GET /orders"  # matched to its route although refused before it
        assert rig.tap.requests == []


async def test_each_retry_is_a_client_span_of_its_own() -> None:
    async with telemetry_rig(instance={"cache": {"ttl_s": 0}}) as rig:
        await rig.fault(status=503, count=1, path=LIST_PATH)
        response = await rig.client.get("/orders", params={"limit": "5"}, headers=auth("reader"))
        assert response.status_code == 200, response.text
        call = only([s for s in rig.spans() if s.name == f"list_orders {INSTANCE}"])
        assert call.attributes is not None
        assert call.attributes["gateway.upstream.requests"] == 2
        assert call.attributes["gateway.upstream.retries"] == 1
        assert "gateway.cache" not in call.attributes  # caching is off for this instance
        first, second = sorted(
            (s for s in rig.spans() if s.kind == SpanKind.CLIENT), key=lambda s: s.start_time or 0
        )
        assert first.attributes is not None and second.attributes is not None
        assert first.attributes["http.response.status_code"] == 503
        assert first.status.status_code == StatusCode.ERROR
        assert second.attributes["http.response.status_code"] == 200
        assert second.attributes["http.request.resend_count"] == 1
        parents = [request["traceparent"].split("-")[2] for request in rig.tap.requests]
        assert parents == [hex_span(first), hex_span(second)]


async def test_a_cache_hit_calls_no_upstream_and_is_an_event_of_the_server_span() -> None:
    async with telemetry_rig() as rig:
        params = {"limit": "3"}
        assert (await rig.client.get("/orders", params=params, headers=auth("reader"))).status_code == 200
        rig.exporter.clear()
        calls = len(rig.tap.requests)
        hit = await rig.client.get("/orders", params=params, headers=auth("reader"))
        assert hit.status_code == 200 and hit.headers["x-cache"] == "HIT"
        assert len(rig.tap.requests) == calls
        server = only(rig.spans())  # no adapter-call or client span
        events = [e for e in server.events if e.name == "cache.read"]
        assert events and all(
            e.attributes is not None
            and e.attributes["gateway.cache"] == "hit"
            and e.attributes["provider"] == INSTANCE
            for e in events
        )


async def test_a_sampled_out_caller_trace_is_propagated_but_not_recorded() -> None:
    async with telemetry_rig() as rig:
        headers = {**auth("reader"), "traceparent": f"00-{TRACE}-{CALLER_SPAN}-00"}
        response = await rig.client.get("/orders", params={"limit": "2"}, headers=headers)
        assert response.status_code == 200
        assert rig.spans() == []
        sent = [request["traceparent"].split("-") for request in rig.tap.requests]
        assert sent and all(trace == TRACE and flags == "00" for _, trace, _, flags in sent)
