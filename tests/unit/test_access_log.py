"""The access line's short path (``logs.log_access``): where the record would meet only the
JSON handler, the same line is written without a LogRecord; anything else gets the record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from gateway.logs import ACCESS_LOG, JsonLineFormatter, log_access, sole_json_handler

FIELDS: dict[str, Any] = {
    "request_id": "req-1",
    "trace_id": "0af7651916cd43dd8448eb211c80319c",
    "key": "reader",
    "method": "GET",
    "route": "/orders/{order_id}",
    "path": "/orders/w:1",
    "status": 200,
    "duration_ms": 0.4,
    "instances": ["w"],
}


@contextmanager
def json_handler_alone() -> Iterator[logging.StreamHandler[io.StringIO]]:
    """A JSON handler alone on the access logger, which propagates no further. Entered in the
    test's body: pytest attaches its capture handlers (set aside meanwhile) once the call starts."""
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonLineFormatter(processors=[structlog.processors.JSONRenderer()]))
    handlers, level, propagate = ACCESS_LOG.handlers, ACCESS_LOG.level, ACCESS_LOG.propagate
    ACCESS_LOG.handlers = [handler]
    ACCESS_LOG.setLevel(logging.INFO)
    ACCESS_LOG.propagate = False
    try:
        yield handler
    finally:
        ACCESS_LOG.handlers = handlers
        ACCESS_LOG.setLevel(level)
        ACCESS_LOG.propagate = propagate


def lines(handler: logging.StreamHandler[io.StringIO]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in handler.stream.getvalue().splitlines()]


def test_the_short_path_writes_the_line_the_record_would() -> None:
    with json_handler_alone() as json_handler:
        assert sole_json_handler(ACCESS_LOG) is json_handler
        log_access(FIELDS)
        json_handler.addFilter(lambda record: True)  # a filter could drop or change the record
        assert sole_json_handler(ACCESS_LOG) is None
        log_access(FIELDS)  # so it gets the record
    short, record = lines(json_handler)
    assert short.pop("timestamp") and record.pop("timestamp")
    assert list(short.items()) == list(record.items())
    assert short["logger"] == "gateway.access" and short["event"] == "request" and short["level"] == "info"


def test_another_handler_or_a_higher_level_gets_the_record_path() -> None:
    other = logging.StreamHandler(io.StringIO())
    with json_handler_alone() as json_handler:
        ACCESS_LOG.addHandler(other)
        assert sole_json_handler(ACCESS_LOG) is None
        log_access(FIELDS)
        ACCESS_LOG.removeHandler(other)
        ACCESS_LOG.setLevel(logging.WARNING)
        log_access(FIELDS)
    assert len(lines(json_handler)) == 1 and other.stream.getvalue().strip() == "request"
