"""Traces and metrics: each app's tracer and metrics (``metrics.py``), and the helpers that use them.

One ``Telemetry`` per app (``build_telemetry``), never a global provider: tests build their
own with an in-memory exporter. While a request runs, the telemetry middleware makes it the
*active* one (a context variable, like the deadline); the helpers below (``traced_call``,
``UpstreamHttp``, ``note_*``) use the active one and do nothing when there is none, so
adapters, layers and the service need no extra constructor argument and run bare in tests.

Spans: the server span (middleware), one ``<operation> <instance>`` span per adapter call
(the ``Traced`` layer) and one client span per HTTP request sent upstream (``send_upstream``,
each retry its own), whose context goes upstream as W3C ``traceparent``/``tracestate``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.errors import GatewayError, UpstreamError
from gateway.metrics import GatewayMetrics
from gateway.settings import TelemetrySettings

T = TypeVar("T")
# W3C Trace Context only: no baggage, which would carry a caller's data to every upstream.
PROPAGATOR = TraceContextTextMapPropagator()
PROPAGATED_HEADERS = frozenset(PROPAGATOR.fields)  # traceparent, tracestate
_RAW_PROPAGATED_HEADERS = frozenset(name.encode("latin-1") for name in PROPAGATED_HEADERS)

log = logging.getLogger("gateway.upstream")


@dataclass(eq=False)
class Telemetry:
    """One app's tracer and metrics, and who may read the metrics."""

    tracer: trace.Tracer
    metrics: GatewayMetrics
    metrics_access: str = "admin"
    provider: TracerProvider | None = None
    # False when no processor takes spans: only a caller's sampled trace makes one record.
    exports_spans: bool = True

    def shutdown(self) -> None:
        """Flush and stop span export (the OTLP batch)."""
        if self.provider is not None:
            self.provider.shutdown()


def build_telemetry(settings: TelemetrySettings, *, span_exporter: SpanExporter | None = None) -> Telemetry:
    """Telemetry for one app. Spans go to ``span_exporter`` (tests) and, when an endpoint is
    configured, over OTLP/HTTP in batches; otherwise nowhere. With no exporter at all, spans
    are not recorded (their ids still flow to logs, problems and upstreams) unless a caller's
    ``traceparent`` says its trace is sampled."""
    processors: list[SpanProcessor] = []
    if span_exporter is not None:
        processors.append(SimpleSpanProcessor(span_exporter))
    if settings.otlp_endpoint:
        # Imported only when used: it brings protobuf and requests along.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processors.append(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
    provider = TracerProvider(
        sampler=ParentBased(ALWAYS_ON if processors else ALWAYS_OFF),
        resource=Resource.create({"service.name": settings.service_name}),
        shutdown_on_exit=False,
    )
    for processor in processors:
        provider.add_span_processor(processor)
    return Telemetry(
        tracer=provider.get_tracer("gateway"),
        metrics=GatewayMetrics(),
        metrics_access=settings.metrics_access,
        provider=provider,
        exports_spans=bool(processors),
    )


# -- the active request ---------------------------------------------------------------------


@dataclass(slots=True)
class RequestRecord:
    """What the access line reports about one request beyond its status."""

    telemetry: Telemetry
    instances: set[str] = field(default_factory=set)


@dataclass(slots=True)
class UpstreamCall:
    """The adapter call in progress (set by ``traced_call``), for the spans below it."""

    instance: str
    kind: str
    operation: str
    cache: str | None  # "miss" / "refresh" when the call fills the read cache
    requests: int = 0  # HTTP requests sent, retries included
    retries: int = 0


_REQUEST: ContextVar[RequestRecord | None] = ContextVar("telemetry_request", default=None)
_CALL: ContextVar[UpstreamCall | None] = ContextVar("telemetry_upstream_call", default=None)
_CACHE_FILL: ContextVar[str | None] = ContextVar("telemetry_cache_fill", default=None)


@contextmanager
def activate(telemetry: Telemetry) -> Iterator[RequestRecord]:
    """Make ``telemetry`` the one the helpers use for the rest of this request."""
    record = RequestRecord(telemetry)
    token = _REQUEST.set(record)
    try:
        yield record
    finally:
        _REQUEST.reset(token)


def trace_carrier(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The caller's ``traceparent``/``tracestate`` from raw ASGI headers (names lower-case)."""
    carrier = {}
    for name, value in headers:
        if name in _RAW_PROPAGATED_HEADERS:
            carrier[name.decode("latin-1")] = value.decode("latin-1")
    return carrier


_IDS: IdGenerator = RandomIdGenerator()  # the SDK's default, as the provider's


@contextmanager
def server_span(
    telemetry: Telemetry, method: str, headers: Iterable[tuple[bytes, bytes]], path: str
) -> Iterator[trace.Span]:
    """The current span while a request is served: the server span, continuing the caller's
    trace. The span is ended (and exported) on exit."""
    carrier = trace_carrier(headers)
    if not carrier and not telemetry.exports_spans:
        # The sampler (ALWAYS_OFF for a new trace) would answer a non-recording span with
        # fresh ids: made here directly, it costs a fifth. Its ids still reach the logs,
        # the problems and the upstreams.
        context = SpanContext(_IDS.generate_trace_id(), _IDS.generate_span_id(), is_remote=False)
        span: trace.Span = NonRecordingSpan(context)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield span
        finally:
            otel_context.detach(token)
        return
    with telemetry.tracer.start_as_current_span(
        method,
        context=PROPAGATOR.extract(carrier) if carrier else Context(),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "url.path": path},
    ) as span:
        yield span


def current_trace_id() -> str | None:
    """The trace id of the current span as 32 hex digits, or None outside any trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def current_instance() -> str | None:
    """The instance whose adapter call is running, for log lines."""
    call = _CALL.get()
    return call.instance if call is not None else None


def outcome_of(exc: BaseException) -> str:
    """A low-cardinality label for how a call failed: the problem type, or what else it was."""
    if isinstance(exc, GatewayError):
        return exc.type
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "exception"


# -- adapter calls and HTTP requests -----------------------------------------------------------


@contextmanager
def filling_cache(outcome: str) -> Iterator[None]:
    """Upstream calls made within are read-cache fills (``miss`` or ``refresh``)."""
    token = _CACHE_FILL.set(outcome)
    try:
        yield
    finally:
        _CACHE_FILL.reset(token)


async def traced_call(instance: str, kind: str, operation: str, call: Callable[[], Awaitable[T]]) -> T:
    """Run one adapter call under its own span; observe its latency by instance and outcome."""
    active = _REQUEST.get()
    if active is None:
        return await call()
    active.instances.add(instance)
    upstream = UpstreamCall(instance, kind, operation, _CACHE_FILL.get())
    attributes: dict[str, str] = {
        "provider": instance,
        "provider.kind": kind,
        "provider.operation": operation,
    }
    if upstream.cache is not None:
        attributes["gateway.cache"] = upstream.cache
    token = _CALL.set(upstream)
    start = time.perf_counter()
    outcome = "ok"
    with active.telemetry.tracer.start_as_current_span(
        f"{operation} {instance}",
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            return await call()
        except BaseException as exc:
            outcome = outcome_of(exc)
            span.set_attribute("error.type", outcome)
            span.set_status(Status(StatusCode.ERROR, outcome))
            if isinstance(exc, UpstreamError):
                # One line per failed upstream call, even when the answer hides it (a partial
                # listing): the instance comes from the logging context, never the address.
                log.warning(
                    "upstream call failed: %s",
                    exc.type,
                    extra={"operation": operation, "upstream_status": exc.upstream_status},
                )
            raise
        finally:
            _CALL.reset(token)
            span.set_attribute("gateway.upstream.requests", upstream.requests)
            span.set_attribute("gateway.upstream.retries", upstream.retries)
            active.telemetry.metrics.upstream_seconds.labels(instance, kind, operation, outcome).observe(
                time.perf_counter() - start
            )


class UpstreamHttp:
    """One ``send_upstream`` call: a client span and a count per HTTP request (attempt).

    Only the URL's scheme, host, port and path are recorded: never its query, never a header.
    """

    def __init__(self, instance: str, method: str, url: str) -> None:
        self.instance = instance
        self.method = method.upper()
        self._url = url
        self._attempts = 0

    @contextmanager
    def attempt(self) -> Iterator[HttpAttempt]:
        active = _REQUEST.get()
        if active is None:
            yield HttpAttempt(None)
            return
        self._attempts += 1
        call = _CALL.get()
        if call is not None:
            call.requests += 1
            call.retries += self._attempts > 1
        with active.telemetry.tracer.start_as_current_span(
            self.method,
            kind=SpanKind.CLIENT,
            attributes=self._attributes(call),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            sent = HttpAttempt(span)
            status = "error"
            try:
                yield sent
                status = str(sent.status_code)
            except BaseException as exc:
                status = outcome_of(exc)
                span.set_attribute("error.type", status)
                span.set_status(Status(StatusCode.ERROR, status))
                raise
            finally:
                active.telemetry.metrics.upstream_requests.labels(self.instance, self.method, status).inc()

    def _attributes(self, call: UpstreamCall | None) -> dict[str, str | int]:
        parts = urlsplit(self._url)
        netloc = parts.netloc.rpartition("@")[2]  # never user:password@
        attributes: dict[str, str | int] = {
            "provider": self.instance,
            "http.request.method": self.method,
            "url.full": f"{parts.scheme}://{netloc}{parts.path}",
            "server.address": parts.hostname or "",
        }
        if parts.port:
            attributes["server.port"] = parts.port
        if self._attempts > 1:
            attributes["http.request.resend_count"] = self._attempts - 1
        if call is not None:
            attributes["provider.kind"] = call.kind
            attributes["provider.operation"] = call.operation
            if call.cache is not None:
                attributes["gateway.cache"] = call.cache
        return attributes


class HttpAttempt:
    """One HTTP request upstream: the headers that carry its trace, and its answer's status."""

    def __init__(self, span: trace.Span | None) -> None:
        self._span = span
        self.status_code = 0

    def trace_headers(self) -> dict[str, str]:
        """``traceparent`` (and ``tracestate``) naming this request's span as the parent."""
        carrier: dict[str, str] = {}
        if self._span is not None:
            PROPAGATOR.inject(carrier)
        return carrier

    def answered(self, status_code: int) -> None:
        self.status_code = status_code
        if self._span is not None:
            self._span.set_attribute("http.response.status_code", status_code)
            if status_code >= 400:
                self._span.set_attribute("error.type", str(status_code))
                self._span.set_status(Status(StatusCode.ERROR))


# -- counters the layers above bump --------------------------------------------------------------


def note_cache_read(instance: str, outcome: str) -> None:
    """A read answered by the cache layer: counted, and an event on the current span."""
    active = _REQUEST.get()
    if active is None:
        return
    active.instances.add(instance)
    active.telemetry.metrics.count_cache_read(instance, outcome)
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event("cache.read", {"provider": instance, "gateway.cache": outcome})


def note_rate_limited(key_name: str) -> None:
    active = _REQUEST.get()
    if active is not None:
        active.telemetry.metrics.rate_limited.labels(key_name).inc()


def note_idempotent_replay() -> None:
    active = _REQUEST.get()
    if active is not None:
        active.telemetry.metrics.idempotent_replays.inc()


def note_unknown_status(instance: str) -> None:
    """An order carried an upstream status missing from its kind's state table."""
    active = _REQUEST.get()
    if active is not None:
        active.telemetry.metrics.unknown_statuses.labels(instance).inc()
