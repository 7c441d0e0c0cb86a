"""Telemetry setup without HTTP: the OTLP endpoint from the standard variables, export only
when configured, helpers that do nothing outside a request, the circuit gauge, redaction."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from gateway.logs import REDACTED, redact_secrets
from gateway.settings import TelemetrySettings, settings_from_mapping
from gateway.telemetry import (
    UpstreamHttp,
    activate,
    build_telemetry,
    current_trace_id,
    note_cache_read,
    traced_call,
)
from tests.support.credentials import UNKNOWN_KEY, WRONG_TOKEN

PROVIDERS = {"w": {"kind": "waldur", "base_url": "http://w.test/api/", "token": "t"}}


def telemetry_settings(env: dict[str, str], **config: Any) -> TelemetrySettings:
    raw: dict[str, Any] = {"providers": PROVIDERS}
    if config:
        raw["telemetry"] = config
    return settings_from_mapping(raw, env=env).telemetry


def test_the_otlp_endpoint_comes_from_the_standard_variables() -> None:
    assert telemetry_settings({}).otlp_endpoint is None
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    assert telemetry_settings(base).otlp_endpoint == "http://collector:4318/v1/traces"
    traces = {**base, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://other:4318/custom"}
    assert telemetry_settings(traces).otlp_endpoint == "http://other:4318/custom"
    own = telemetry_settings(base, otlp_endpoint="http://mine:4318/v1/traces")
    assert own.otlp_endpoint == "http://mine:4318/v1/traces"
    assert telemetry_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": " "}).otlp_endpoint is None


def test_metrics_access_is_validated() -> None:
    assert telemetry_settings({}).metrics_access == "admin"
    with pytest.raises(Exception, match="metrics_access"):
        telemetry_settings({}, metrics_access="everyone")


def test_spans_are_exported_over_otlp_only_when_an_endpoint_is_set() -> None:
    def processors(settings: TelemetrySettings) -> list[str]:
        telemetry = build_telemetry(settings)
        assert telemetry.provider is not None
        found = [type(p).__name__ for p in telemetry.provider._active_span_processor._span_processors]
        exporters = [
            type(p.span_exporter).__name__  # type: ignore[attr-defined]
            for p in telemetry.provider._active_span_processor._span_processors
        ]
        telemetry.shutdown()
        return found + exporters

    assert processors(TelemetrySettings()) == []
    with_otlp = TelemetrySettings(otlp_endpoint="http://127.0.0.1:9/v1/traces")
    assert processors(with_otlp) == ["BatchSpanProcessor", "OTLPSpanExporter"]


async def test_without_an_exporter_spans_are_not_recorded_but_have_trace_ids() -> None:
    telemetry = build_telemetry(TelemetrySettings())
    with activate(telemetry), telemetry.tracer.start_as_current_span("s") as span:
        assert not span.is_recording()
        trace_id = current_trace_id()
        assert trace_id is not None and len(trace_id) == 32 and int(trace_id, 16)
        with UpstreamHttp("w", "GET", "http://w.test/api/x?secret=1").attempt() as sent:
            headers = sent.trace_headers()
            sent.answered(200)
    assert headers["traceparent"].split("-")[1] == trace_id
    assert int(headers["traceparent"].split("-")[3], 16) & 1 == 0  # not sampled: nobody records it
    assert current_trace_id() is None


async def test_helpers_do_nothing_outside_a_request() -> None:
    async def answer() -> int:
        return 42

    assert await traced_call("w", "waldur", "get_order", answer) == 42
    note_cache_read("w", "hit")
    with UpstreamHttp("w", "GET", "http://w.test/").attempt() as sent:
        assert sent.trace_headers() == {}


async def test_the_client_span_records_no_query_string_or_credentials() -> None:
    exporter = InMemorySpanExporter()
    telemetry = build_telemetry(TelemetrySettings(), span_exporter=exporter)
    with activate(telemetry):
        request = UpstreamHttp("w", "get", "https://user:pw@w.test:8443/api/orders/?q=secret")
        with request.attempt() as sent:
            sent.answered(503)
        with request.attempt() as sent:
            sent.answered(200)
    first, second = exporter.get_finished_spans()
    assert first.attributes is not None and second.attributes is not None
    assert first.attributes["url.full"] == "https://w.test:8443/api/orders/"
    assert first.attributes["server.port"] == 8443 and first.attributes["http.request.method"] == "GET"
    assert first.attributes["error.type"] == "503" and "http.request.resend_count" not in first.attributes
    assert second.attributes["http.request.resend_count"] == 1
    text = telemetry.metrics.exposition().decode()
    samples = {
        (s.name, s.labels.get("status")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("gateway_upstream_http_requests_total", "503")] == 1
    assert samples[("gateway_upstream_http_requests_total", "200")] == 1


def test_the_circuit_gauge_reads_the_breakers_at_scrape_time() -> None:
    telemetry = build_telemetry(TelemetrySettings())
    states = {"a": "closed", "b": "open"}
    telemetry.metrics.watch_circuits(lambda: states.items())
    states["a"] = "half-open"
    text = telemetry.metrics.exposition().decode()
    gauge = next(f for f in text_string_to_metric_families(text) if f.name == "gateway_circuit_state")
    current = {(s.labels["instance"], s.labels["state"]) for s in gauge.samples if s.value == 1}
    assert current == {("a", "half-open"), ("b", "open")}
    assert len(gauge.samples) == 6


def test_secrets_are_redacted_by_field_name_and_in_messages() -> None:
    event = {
        "event": f"calling with Authorization: Bearer {WRONG_TOKEN} now",
        "api_key": UNKNOWN_KEY,
        "token": WRONG_TOKEN,
        "key": "reader",  # a key's name is no secret
    }
    redacted = redact_secrets(None, "info", dict(event))
    assert redacted["api_key"] == redacted["token"] == REDACTED
    assert redacted["key"] == "reader"
    assert WRONG_TOKEN not in redacted["event"] and REDACTED in redacted["event"]
