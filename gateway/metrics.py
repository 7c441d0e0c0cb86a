"""The app's Prometheus metrics: a registry of its own, the metric families, the breaker gauge."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

METRICS_MEDIA_TYPE = CONTENT_TYPE_PLAIN_0_0_4
CIRCUIT_STATES = ("closed", "open", "half-open")

CircuitSource = Callable[[], Iterable[tuple[str, str]]]  # → (instance, state) pairs


class _CircuitCollector:
    """``gateway_circuit_state{instance,state}``: 1 for each breaker's state now, read at scrape."""

    def __init__(self) -> None:
        self.source: CircuitSource = tuple

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for instance, current in self.source():
            for state in CIRCUIT_STATES:
                family.add_metric([instance, state], 1.0 if state == current else 0.0)
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "gateway_circuit_state",
            "Circuit breaker state per instance: 1 for the current state, 0 for the others.",
            labels=["instance", "state"],
        )


class GatewayMetrics:
    """The app's Prometheus metrics, in a registry of its own (not the process-global one)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        route = ("route", "method", "status")
        self.requests = Counter(
            "gateway_http_requests", "Requests answered, by route template and status.", route, registry=r
        )
        self.request_seconds = Histogram(
            "gateway_http_request_duration_seconds",
            "Time to answer a request, by route template and status.",
            route,
            registry=r,
        )
        self.upstream_seconds = Histogram(
            "gateway_upstream_call_duration_seconds",
            "One adapter call (every HTTP request and retry it made), by instance and outcome.",
            ("instance", "kind", "operation", "outcome"),
            registry=r,
        )
        self.upstream_requests = Counter(
            "gateway_upstream_http_requests",
            "HTTP requests sent upstream, each attempt, by status code or error type.",
            ("instance", "method", "status"),
            registry=r,
        )
        self.cache_reads = Counter(
            "gateway_cache_reads",
            "Cached reads by what answered: hit, miss, stale, collapsed or refresh.",
            ("instance", "outcome"),
            registry=r,
        )
        self.rate_limited = Counter(
            "gateway_rate_limited", "Requests refused with 429, by API key name.", ("key",), registry=r
        )
        self.idempotent_replays = Counter(
            "gateway_idempotent_replays", "Writes answered by replaying a stored answer.", registry=r
        )
        self.unknown_statuses = Counter(
            "gateway_upstream_unknown_status",
            "Orders read with an upstream status the gateway has no mapping for.",
            ("instance",),
            registry=r,
        )
        self._circuits = _CircuitCollector()
        r.register(self._circuits)
        self._request_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._cache_read_series: dict[tuple[str, str], Counter] = {}  # instances x outcomes: few

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and observe its duration."""
        key = (route, method, status)
        series = self._request_series.get(key)
        if series is None:
            # ``labels()`` validates and joins its arguments on every call: the children are
            # kept per (route, method, status), as few as the series themselves.
            labels = (route, method, str(status))
            series = self._request_series[key] = (
                self.requests.labels(*labels),
                self.request_seconds.labels(*labels),
            )
        counter, histogram = series
        counter.inc()
        histogram.observe(seconds)

    def count_cache_read(self, instance: str, outcome: str) -> None:
        """One read answered by the cache layer (children kept as ``observe_request`` does)."""
        key = (instance, outcome)
        child = self._cache_read_series.get(key)
        if child is None:
            child = self._cache_read_series[key] = self.cache_reads.labels(instance, outcome)
        child.inc()

    def watch_circuits(self, source: CircuitSource) -> None:
        """Where the breaker states come from (called at scrape time)."""
        self._circuits.source = source

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format (``METRICS_MEDIA_TYPE``)."""
        return generate_latest(self.registry)


class Stateful(Protocol):
    @property
    def state(self) -> str: ...


def circuit_states(breakers: Mapping[str, Stateful]) -> CircuitSource:
    """A ``watch_circuits`` source over each instance's breaker."""
    return lambda: [(name, breaker.state) for name, breaker in breakers.items()]
