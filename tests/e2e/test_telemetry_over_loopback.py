"""``gateway serve`` as a real process: every stderr line is JSON, spans reach an OTLP/HTTP
receiver when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, the trace reaches a real simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from gateway.sim.waldur import create_waldur_sim
from tests.support.credentials import UNKNOWN_KEY
from tests.support.replicas import api_key, free_port, wait_until_up
from tests.support.servers import running_server
from tests.support.stack import KEYS, SIM_TOKEN, auth
from tests.support.telemetry import HeaderTap, Metrics

pytestmark = pytest.mark.e2e

TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
STARTUP_TIMEOUT_S = 30.0


class OtlpReceiver:
    """A collector stand-in on loopback: keeps each OTLP/HTTP traces request it is sent."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/v1/traces":
                    receiver.requests.append(ExportTraceServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self) -> list[tuple[str, str, dict[str, object]]]:
        """(trace id, span name, attributes) of every span received."""
        found = []
        for request in list(self.requests):
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        attributes = {a.key: _value(a.value) for a in span.attributes}
                        found.append((span.trace_id.hex(), span.name, attributes))
        return found


def _value(value: Any) -> object:
    kind = value.WhichOneof("value")  # an OTLP AnyValue: string_value, int_value...
    return getattr(value, kind) if kind else None


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_served_gateway_logs_json_and_exports_spans_over_otlp(tmp_path: Path, receiver: OtlpReceiver) -> None:
    tap = HeaderTap(create_waldur_sim(orders=20, seed=81, token=SIM_TOKEN))
    with running_server(tap) as sim_url:
        config = {
            "providers": {
                "waldur-eu": {"kind": "waldur", "base_url": f"{sim_url}/api/", "token": "${WALDUR_TOKEN}"}
            },
            "api_keys": [
                api_key(name, KEYS[name][0], scopes)
                for name, scopes in (("reader", ["orders:read"]), ("ops", ["orders:read", "orders:admin"]))
            ],
            "server": {"log_level": "info"},
            "telemetry": {"service_name": "gateway-e2e"},
        }
        path = tmp_path / "gateway.yaml"
        path.write_text(yaml.safe_dump(config))
        port = free_port()
        env = {
            **os.environ,
            "WALDUR_TOKEN": SIM_TOKEN,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms between batches: the test need not wait 5 s
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(path), "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base, process, time.monotonic() + STARTUP_TIMEOUT_S)
            with httpx.Client(base_url=base, timeout=10) as client:
                traced = client.get(
                    "/orders",
                    params={"limit": "3"},
                    headers={**auth("reader"), "traceparent": f"00-{TRACE}-{CALLER_SPAN}-01"},
                )
                assert traced.status_code == 200, traced.text
                refused = client.get("/orders", headers={"Authorization": f"Bearer {UNKNOWN_KEY}"})
                assert refused.status_code == 401
                scrape = client.get("/metrics", headers=auth("ops"))
                assert scrape.status_code == 200
            metrics = Metrics(scrape.text)
            assert (
                metrics.value("gateway_http_requests_total", route="/orders", method="GET", status="200") == 1
            )
            assert metrics.value("gateway_upstream_call_duration_seconds_count", instance="waldur-eu") >= 1

            deadline = time.monotonic() + 10
            while not any(trace == TRACE for trace, _, _ in receiver.spans()):
                assert time.monotonic() < deadline, "no span of the caller's trace reached the receiver"
                time.sleep(0.05)
        finally:
            process.terminate()
            out, err = process.communicate(timeout=20)

    # Spans of the caller's trace: server, adapter call and client, with provider attributes.
    names = {name for trace, name, _ in receiver.spans() if trace == TRACE}
    assert {"GET /orders", "list_orders waldur-eu", "GET"} <= names
    client_spans = [a for trace, name, a in receiver.spans() if trace == TRACE and name == "GET"]
    assert client_spans and all(a["provider"] == "waldur-eu" for a in client_spans)
    upstream = [request for request in tap.requests if "traceparent" in request]
    assert upstream and all(r["traceparent"].split("-")[1] == TRACE for r in upstream)

    # Every line the process wrote is one JSON object; one access line per request.
    assert out == ""
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "gateway.access"]
    orders = [line for line in access if line["route"] == "/orders"]
    assert [line["status"] for line in orders] == [200, 401]
    assert orders[0]["trace_id"] == TRACE and orders[0]["key"] == "reader"
    assert orders[1]["trace_id"] == refused.json()["trace_id"]
    assert all(line["request_id"] and line["duration_ms"] >= 0 for line in access)
    for secret in (KEYS["reader"][0], KEYS["ops"][0], UNKNOWN_KEY, SIM_TOKEN):
        assert secret not in err
