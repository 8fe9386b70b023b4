"""Prometheus metrics: a per-app registry, an event sink that counts flow events, and the request timer's series.

Nothing here is a module global: each app builds its own :class:`Metrics` (and registry), so two apps in one process
(tests, tenants) never share counters. With ``--workers N`` every worker exposes its own series; Prometheus sums
them when each worker is scraped, or run one worker per container.

Cardinality: ``tenant`` and ``client`` labels are off unless asked for (``PIXIE_METRICS_LABELS=tenant,client``), and
even then each is capped: past :data:`LABEL_VALUE_LIMIT` distinct values, new ones are counted as ``"other"``. Error
codes are a closed set (the OAuth registry plus a few of ours), cut to 40 characters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE

from pixie.events import FlowEvent, TokenIssued

__all__ = ["CONTENT_TYPE", "LABEL_VALUE_LIMIT", "Metrics", "MetricsEventSink"]

LABEL_VALUE_LIMIT = 100
_CHILD_CACHE_LIMIT = 10_000
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _BoundedLabel:
    """Passes through the first ``limit`` distinct values, then maps new ones to ``other``."""

    def __init__(self, enabled: bool, limit: int = LABEL_VALUE_LIMIT) -> None:
        self.enabled = enabled
        self._seen: set[str] = set()
        self._limit = limit
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        if not self.enabled:
            return ""
        if value is None:
            return "-"
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self._limit:
                self._seen.add(value)
                return value
        return "other"


class Metrics:
    """The app's series. ``labels`` chooses the optional ``tenant`` / ``client`` labels."""

    def __init__(self, *, labels: Iterable[str] = ()) -> None:
        chosen = set(labels)
        unknown = chosen - {"tenant", "client"}
        if unknown:
            raise ValueError(f"unknown metrics labels: {', '.join(sorted(unknown))} (use tenant, client)")
        self.registry = CollectorRegistry(auto_describe=True)
        self.tenant_label = _BoundedLabel("tenant" in chosen)
        self.client_label = _BoundedLabel("client" in chosen)
        self.http_requests = Counter(
            "pixie_http_requests",
            "HTTP requests by endpoint, method and status code.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "pixie_http_request_duration_seconds",
            "Time to answer an HTTP request, by endpoint.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events = Counter(
            "pixie_flow_events",
            "Flow events by kind, outcome and error code (the sign-in funnel and its failures).",
            ["kind", "outcome", "error", "tenant", "client"],
            registry=self.registry,
        )
        self.grants = Counter(
            "pixie_token_grants",
            "Token endpoint answers by grant type and outcome.",
            ["grant_type", "outcome", "error", "tenant", "client"],
            registry=self.registry,
        )
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._event_children: dict[tuple[str | None, ...], tuple[Counter, ...]] = {}
        self._dropped = Gauge(
            "pixie_events_dropped", "Events dropped because the event buffer was full.", registry=self.registry
        )

    def watch_dropped_events(self, count: Callable[[], float]) -> None:
        """Report ``count()`` (the event buffer's drop counter) at each scrape."""
        self._dropped.set_function(count)

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        # Children are cached: ``labels()`` takes a lock and builds keys on every call, a measurable part of a
        # fast request. The label space is bounded (endpoint_label, a few methods and statuses).
        key = (endpoint, method, status)
        children = self._request_children.get(key)
        if children is None:
            children = (self.http_requests.labels(endpoint, method, str(status)), self.http_latency.labels(endpoint))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def record_event(self, event: FlowEvent) -> None:
        grant = event.grant_type[:40] if isinstance(event, TokenIssued) else None
        key = (event.kind, event.outcome, event.error, event.tenant_id, event.client_id, grant)
        children = self._event_children.get(key)
        if children is None:
            children = self._event_children_for(event, grant)
            if len(self._event_children) < _CHILD_CACHE_LIMIT:  # keys hold raw ids: bound the cache itself
                self._event_children[key] = children
        for child in children:
            child.inc()

    def _event_children_for(self, event: FlowEvent, grant: str | None) -> tuple[Counter, ...]:
        tenant, client = self.tenant_label(event.tenant_id), self.client_label(event.client_id)
        error = (event.error or "")[:40]
        children = [self.events.labels(event.kind, event.outcome, error, tenant, client)]
        if grant is not None:
            children.append(self.grants.labels(grant, event.outcome, error, tenant, client))
        return tuple(children)

    def exposition(self) -> bytes:
        """The Prometheus text format (0.0.4, which every scraper reads) of every series."""
        return generate_latest(self.registry)


class MetricsEventSink:
    """An :class:`~pixie.events.EventSink` that counts each event; constant time, never raises."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def emit(self, event: FlowEvent) -> None:
        try:
            self._metrics.record_event(event)
        except Exception:  # a metrics fault must never fail a request
            return
