"""Structured logs: every line one JSON object, from structlog and stdlib ``logging`` alike.

The gateway's modules log with ``logging.getLogger(__name__)``; ``configure_logging`` puts
structlog's ``ProcessorFormatter`` on the root handler, so those records, uvicorn's and any
library's are rendered by the same JSON renderer as structlog's own. Each line carries the
request id, trace id and upstream instance of the request it was logged in, when there is one.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor

from gateway.middleware.request_id import current_request_id
from gateway.telemetry import current_instance, current_trace_id

# Field names whose values are never written, whatever logs them (defence in depth: the
# gateway logs no header, credential or key in the first place).
_SECRET_FIELD = re.compile(r"(?i)authorization|api[_-]?key|token|secret|password|cookie")
_BEARER = re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
REDACTED = "[redacted]"
# Libraries that log every upstream request with its URL at INFO: only their warnings.
QUIET_LOGGERS = ("httpx", "httpcore", "urllib3")


def add_request_context(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Request id, trace id and the upstream instance being called, where known."""
    for name, value in (
        ("request_id", current_request_id.get()),
        ("trace_id", current_trace_id()),
        ("instance", current_instance()),
    ):
        if value is not None and event_dict.get(name) is None:
            event_dict[name] = value
    return event_dict


def redact_secrets(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    for name in event_dict:
        if _SECRET_FIELD.search(name) and event_dict[name] is not None:
            event_dict[name] = REDACTED
    event = event_dict.get("event")
    if isinstance(event, str) and _BEARER.search(event):
        event_dict["event"] = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", event)
    return event_dict


def _drop_color_message(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate of the message
    return event_dict


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record comes (as ``logging.lastResort``
    does), so a redirection after configuration, such as a test's capture, is followed."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr


def configure_logging(level: str, *, stream: TextIO | None = None) -> logging.Handler:
    """Route every log record of the process to ``stream`` (stderr) as one JSON line, at
    ``level`` and above. Replaces the root logger's handlers; returns the new one."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
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
    formatter = structlog.stdlib.ProcessorFormatter(
        # For stdlib records: `extra={...}` fields first, so they win over the context.
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_color_message, add_request_context],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_secrets,
            structlog.processors.JSONRenderer(),
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
