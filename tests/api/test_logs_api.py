"""Logs through HTTP: with ``configure_logging``, every line on stderr is one JSON object; one
access line per request with its request id, trace id, key name, instances, status and
latency; lines logged during an upstream call name the instance; no key, upstream credential
or upstream error body ever appears."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from gateway.logs import QUIET_LOGGERS, configure_logging
from tests.support.credentials import UNKNOWN_KEY
from tests.support.stack import KEYS, SIM_TOKEN, auth
from tests.support.telemetry import INSTANCE, LIST_PATH, telemetry_rig

UPSTREAM_ERROR_BODY = "Simulated failure."  # what the simulator's faults answer with


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    root = logging.getLogger()
    level = root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    handler = configure_logging("info")  # onto sys.stderr, which capsys holds now
    try:
        yield capsys
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for name, value in quiet.items():
            logging.getLogger(name).setLevel(value)
        structlog.reset_defaults()


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # fails on any line that is not JSON


async def test_every_line_is_json_with_one_access_line_per_request(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    async with telemetry_rig(instance={"cache": {"ttl_s": 0}}) as rig:
        ok = await rig.client.get(
            "/orders", params={"limit": "2"}, headers={**auth("reader"), "X-Request-ID": "log-ok-1"}
        )
        assert ok.status_code == 200
        bad_key = await rig.client.get(
            "/orders", headers={"Authorization": f"Bearer {UNKNOWN_KEY}", "X-Request-ID": "log-401"}
        )
        assert bad_key.status_code == 401
        await rig.fault(status=503, count=1, path=LIST_PATH)  # retried: an INFO line
        retried = await rig.client.get(
            "/orders", params={"limit": "2"}, headers={**auth("ops"), "X-Request-ID": "log-retry"}
        )
        assert retried.status_code == 200
        await rig.fault(status=500, count=1, path=LIST_PATH)  # the body must stay out of the log
        failed = await rig.client.get(
            "/orders", params={"limit": "2"}, headers={**auth("reader"), "X-Request-ID": "log-502"}
        )
        assert failed.status_code == 502

    captured = json_logs.readouterr()
    assert json_lines(captured.out) == []
    lines = json_lines(captured.err)
    assert lines and all({"timestamp", "level", "logger", "event"} <= line.keys() for line in lines)

    access = {line["request_id"]: line for line in lines if line["logger"] == "gateway.access"}
    assert len([line for line in lines if line["logger"] == "gateway.access"]) == 4
    assert set(access) == {"log-ok-1", "log-401", "log-retry", "log-502"}
    first = access["log-ok-1"]
    assert first["event"] == "request" and first["level"] == "info"
    assert first["trace_id"] == ok.headers.get("x-trace-id", first["trace_id"])
    assert len(first["trace_id"]) == 32 and int(first["trace_id"], 16)
    assert first["key"] == "reader" and first["instances"] == [INSTANCE]
    assert first["method"] == "GET" and first["route"] == "/orders" and first["status"] == 200
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert access["log-401"]["key"] is None and access["log-401"]["status"] == 401
    assert access["log-401"]["instances"] == []
    assert access["log-502"]["status"] == 502
    assert access["log-502"]["trace_id"] == failed.json()["trace_id"]

    # The retry, logged inside the upstream call, carries the request's ids and the instance.
    retry = [line for line in lines if line["logger"] == "gateway.adapters.retry"]
    assert retry and all(
        line["instance"] == INSTANCE
        and line["request_id"] == "log-retry"
        and line["trace_id"] == access["log-retry"]["trace_id"]
        for line in retry
    )
    warning = [line for line in lines if line["logger"] == "gateway.problems"]
    assert warning and warning[0]["level"] == "warning" and warning[0]["request_id"] == "log-502"

    for secret in (*(key for key, _, _ in KEYS.values()), UNKNOWN_KEY, SIM_TOKEN, UPSTREAM_ERROR_BODY):
        assert secret not in captured.err


async def test_the_level_comes_from_config(json_logs: pytest.CaptureFixture[str]) -> None:
    configure_logging("warning")
    async with telemetry_rig() as rig:
        assert (await rig.client.get("/orders", headers=auth("reader"))).status_code == 200
    assert json_lines(json_logs.readouterr().err) == []  # access lines are INFO
