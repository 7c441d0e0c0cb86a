"""Structured logs: every line one JSON object, from structlog and stdlib ``logging`` alike.

The gateway's modules log with ``logging.getLogger(__name__)``; ``configure_logging`` puts
structlog's ``ProcessorFormatter`` on the root handler, so those records, uvicorn's and any
library's are rendered by the same JSON renderer as structlog's own. Each line carries the
request id, trace id and upstream instance of the request it was logged in, when there is one.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import orjson
import structlog
from structlog.types import EventDict, Processor

from gateway.middleware.request_id import current_request_id
from gateway.telemetry import current_instance, current_trace_id

# Field names whose values are never written, whatever logs them (defence in depth: the
# gateway logs no header, credential or key in the first place).
_SECRET_FIELD = re.compile(r"(?i)authorization|api[_-]?key|token|secret|password|cookie")
_BEARER = re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
REDACTED = "[redacted]"
ACCESS_LOG = logging.getLogger("gateway.access")  # one line per request
# Libraries that log every upstream request with its URL at INFO: only their warnings.
QUIET_LOGGERS = ("httpx", "httpcore", "urllib3")


# The attributes every LogRecord has: the rest of a record's attributes are its ``extra``
# fields (the set structlog's ExtraAdder uses).
_LOG_RECORD_KEYS = frozenset(logging.LogRecord("name", 0, "pathname", 0, "msg", (), None).__dict__)
_TIMESTAMPER = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")


def add_request_context(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Request id, trace id and the upstream instance being called, where known (each looked
    up only when the line lacks it: the access line brings its own ids)."""
    if event_dict.get("request_id") is None and (request_id := current_request_id.get()) is not None:
        event_dict["request_id"] = request_id
    if event_dict.get("trace_id") is None and (trace_id := current_trace_id()) is not None:
        event_dict["trace_id"] = trace_id
    if event_dict.get("instance") is None and (instance := current_instance()) is not None:
        event_dict["instance"] = instance
    return event_dict


@functools.lru_cache(maxsize=1024)  # field names come from code: few, and asked on every line
def is_secret_field(name: str) -> bool:
    return _SECRET_FIELD.search(name) is not None


def redact_secrets(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    for name in event_dict:
        if is_secret_field(name) and event_dict[name] is not None:
            event_dict[name] = REDACTED
    event = event_dict.get("event")
    if isinstance(event, str) and _BEARER.search(event):
        event_dict["event"] = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", event)
    return event_dict


def _drop_color_message(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate of the message
    return event_dict


def _json_fallback(value: Any) -> Any:
    """What structlog's JSONRenderer writes for a value JSON has no type for."""
    try:
        return value.__structlog__()
    except AttributeError:
        return repr(value)


def render_json(event_dict: EventDict, **_: Any) -> str:
    """One line of JSON; orjson, or the standard library for what orjson refuses (keys that
    are not strings, integers past 64 bits)."""
    try:
        return orjson.dumps(event_dict, default=_json_fallback).decode()
    except TypeError:
        return json.dumps(event_dict, default=_json_fallback)


def foreign_event(
    message: str, level_name: str, logger_name: str, extras: Iterable[tuple[str, Any]]
) -> EventDict:
    """The event dict of a stdlib log call, as ``configure_logging``'s ``foreign_pre_chain`` and
    processors build it (keep the two in step), without structlog's generic dispatch."""
    event: EventDict = {"event": message}
    structlog.contextvars.merge_contextvars(None, "", event)
    structlog.stdlib.add_log_level(None, level_name.lower(), event)
    event["logger"] = logger_name
    _TIMESTAMPER(None, "", event)
    event.update(extras)  # after the context, so that they win over it
    _drop_color_message(None, "", event)
    add_request_context(None, "", event)
    return redact_secrets(None, "", event)


def stdlib_event(record: logging.LogRecord) -> EventDict:
    """The event dict of a stdlib record; its ``extra={...}`` fields as ExtraAdder finds them."""
    extras = ((key, value) for key, value in record.__dict__.items() if key not in _LOG_RECORD_KEYS)
    return foreign_event(record.getMessage(), record.levelname, record.name, extras)


class JsonLineFormatter(structlog.stdlib.ProcessorFormatter):
    """structlog's ``ProcessorFormatter`` with a short path for stdlib records that carry no
    exception or stack (the access line of every request, most others): the same fields in
    the same order, at a fraction of the cost. The rest take structlog's path."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.stack_info or hasattr(record, "_logger"):
            return super().format(record)
        return render_json(stdlib_event(record))


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record comes (as ``logging.lastResort``
    does), so a redirection after configuration, such as a test's capture, is followed."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr


def log_access(fields: dict[str, Any]) -> None:
    """The access line of a request: an INFO record "request" of ``gateway.access`` whose
    ``extra`` fields are ``fields``.

    Where that record would meet nothing but the handler of ``configure_logging`` (no other
    handler, no filter: a served gateway), the same line is written to that handler's stream
    straight away, without a LogRecord and the logging machinery: a fraction of the cost, on
    every request. Anything else (another handler, a test's capture) gets the record.
    """
    if not ACCESS_LOG.isEnabledFor(logging.INFO):
        return
    handler = sole_json_handler(ACCESS_LOG)
    if handler is not None:
        line = render_json(foreign_event("request", "INFO", ACCESS_LOG.name, fields.items()))
        if write_line(handler, line):
            return
    ACCESS_LOG.info("request", extra=fields)


def sole_json_handler(logger: logging.Logger) -> logging.StreamHandler[TextIO] | None:
    """The JSON stream handler an INFO record of ``logger`` would reach, when it reaches it
    alone and no filter (of a logger or of the handler) could stop or change it."""
    found: logging.StreamHandler[TextIO] | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if (
                found is not None
                or not isinstance(handler, logging.StreamHandler)
                or not isinstance(handler.formatter, JsonLineFormatter)
                or handler.filters
                or handler.level > logging.INFO
            ):
                return None
            found = handler
        current = current.parent if current.propagate else None
    return found


def write_line(handler: logging.StreamHandler[TextIO], line: str) -> bool:
    """Write ``line`` as the handler's ``emit`` would; False (nothing handled) if it fails."""
    handler.acquire()
    try:
        handler.stream.write(line + handler.terminator)
        handler.flush()
    except Exception:  # the record's path reports it (logging's handleError)
        return False
    finally:
        handler.release()
    return True


def configure_logging(level: str, *, stream: TextIO | None = None) -> logging.Handler:
    """Route every log record of the process to ``stream`` (stderr) as one JSON line, at
    ``level`` and above. Replaces the root logger's handlers; returns the new one."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _TIMESTAMPER,
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            add_request_context,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = JsonLineFormatter(
        # For stdlib records: `extra={...}` fields first, so they win over the context.
        # (``stdlib_event`` is this chain, written out: keep the two in step.)
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_color_message, add_request_context],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_secrets,
            structlog.processors.JSONRenderer(serializer=render_json),
        ],
    )
    handler = logging.StreamHandler(stream) if stream is not None else StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler
