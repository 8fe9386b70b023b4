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
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE
from prometheus_client.registry import Collector

from pixie.events import FlowEvent, TokenIssued

__all__ = ["CONTENT_TYPE", "LABEL_VALUE_LIMIT", "Metrics"]

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


_GRANT_TYPES = frozenset({"authorization_code", "refresh_token", "client_credentials"})
_LabelKey = tuple[str, str, str, str, str, str | None]
"""kind, outcome, error, tenant, client, grant type (``None``: not a token grant)."""


class _EventCounts(Collector):
    """Exposes the flow-event tallies as ``pixie_flow_events_total`` and ``pixie_token_grants_total``."""

    def __init__(self, counts: dict[_LabelKey, int]) -> None:
        self._counts = counts

    def describe(self) -> list[Metric]:
        return list(self._families({}))

    def collect(self) -> Iterator[Metric]:
        yield from self._families(dict(self._counts))  # a copy: the loop may count on while a scrape reads

    @staticmethod
    def _families(counts: dict[_LabelKey, int]) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "pixie_flow_events",
            "Flow events by kind, outcome and error code (the sign-in funnel and its failures).",
            labels=["kind", "outcome", "error", "tenant", "client"],
        )
        grants = CounterMetricFamily(
            "pixie_token_grants",
            "Token endpoint answers by grant type and outcome.",
            labels=["grant_type", "outcome", "error", "tenant", "client"],
        )
        by_event: dict[tuple[str, str, str, str, str], int] = {}
        for (kind, outcome, error, tenant, client, grant), count in counts.items():
            labels = (kind, outcome, error, tenant, client)
            by_event[labels] = by_event.get(labels, 0) + count
            if grant is not None:
                grants.add_metric([grant, outcome, error, tenant, client], count)
        for labels, count in by_event.items():
            events.add_metric(list(labels), count)
        yield events
        yield grants


_RequestKey = tuple[str, str, int]
"""endpoint, method, status."""


class _RequestTallies(Collector):
    """Exposes the request tallies as ``pixie_http_requests_total`` and ``pixie_http_request_duration_seconds``.

    Per ``(endpoint, method, status)`` the tally is a list: the count of each latency bucket (the last one past the
    largest bound), then the sum of seconds. Recording a request is a bisect and two list updates; prometheus-client's
    ``Counter`` and ``Histogram`` children took a lock per increment and walked the buckets in Python, a share of
    every request that profiles showed plainly. The cumulative series are built at scrape time.
    """

    def __init__(self, tallies: dict[_RequestKey, list[float]]) -> None:
        self._tallies = tallies

    def describe(self) -> list[Metric]:
        return list(self._families({}))

    def collect(self) -> Iterator[Metric]:
        yield from self._families({key: list(tally) for key, tally in list(self._tallies.items())})

    @staticmethod
    def _families(tallies: dict[_RequestKey, list[float]]) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "pixie_http_requests",
            "HTTP requests by endpoint, method and status code.",
            labels=["endpoint", "method", "status"],
        )
        latency = HistogramMetricFamily(
            "pixie_http_request_duration_seconds", "Time to answer an HTTP request, by endpoint.", labels=["endpoint"]
        )
        by_endpoint: dict[str, list[float]] = {}
        for (endpoint, method, status), tally in tallies.items():
            requests.add_metric([endpoint, method, str(status)], sum(tally[:-1]))
            merged = by_endpoint.setdefault(endpoint, [0.0] * len(tally))
            for index, value in enumerate(tally):
                merged[index] += value
        for endpoint, merged in by_endpoint.items():
            cumulative, buckets = 0.0, []
            for bound, count in zip((*_LATENCY_BUCKETS, float("inf")), merged[:-1], strict=True):
                cumulative += count
                buckets.append((_bound_text(bound), cumulative))
            latency.add_metric([endpoint], buckets, merged[-1])
        yield requests
        yield latency


def _bound_text(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


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
        self._requests: dict[_RequestKey, list[float]] = {}
        self.registry.register(_RequestTallies(self._requests))
        self._event_counts: dict[_LabelKey, int] = {}
        self._label_keys: dict[tuple[str | None, ...], _LabelKey] = {}
        self.registry.register(_EventCounts(self._event_counts))
        self._dropped = Gauge(
            "pixie_events_dropped", "Events dropped because the event buffer was full.", registry=self.registry
        )

    def watch_dropped_events(self, count: Callable[[], float]) -> None:
        """Report ``count()`` (the event buffer's drop counter) at each scrape."""
        self._dropped.set_function(count)

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count a request and its latency (on the event loop's thread). The label space is bounded:
        :func:`~pixie.server.observe.endpoint_label`, a few methods and statuses."""
        key = (endpoint, method, status)
        tally = self._requests.get(key)
        if tally is None:
            tally = self._requests[key] = [0.0] * (len(_LATENCY_BUCKETS) + 2)
        tally[bisect_left(_LATENCY_BUCKETS, seconds)] += 1
        tally[-1] += seconds

    def record_event(self, event: FlowEvent) -> None:
        """Count ``event``: one dictionary increment (the event sink calls it as each event is emitted, on the event
        loop's thread).

        The counts are plain integers that :class:`_EventCounts` turns into the two counter families at scrape time.
        Prometheus ``Counter`` children take a lock and run checks on every increment, and an event touched two of
        them: a sizeable share of what emitting an event costs a token request.
        """
        grant = event.grant_type if isinstance(event, TokenIssued) else None
        key = (event.kind, event.outcome, event.error, event.tenant_id, event.client_id, grant)
        label_key = self._label_keys.get(key)
        if label_key is None:
            label_key = self._label_key(event, grant)
            if len(self._label_keys) < _CHILD_CACHE_LIMIT:  # keys hold raw ids: bound the cache itself
                self._label_keys[key] = label_key
        counts = self._event_counts
        counts[label_key] = counts.get(label_key, 0) + 1

    def _label_key(self, event: FlowEvent, grant: str | None) -> _LabelKey:
        """Label values, each from a bounded set (so the counts are bounded whatever the clients send)."""
        tenant, client = self.tenant_label(event.tenant_id), self.client_label(event.client_id)
        if grant is not None and grant not in _GRANT_TYPES:
            grant = "other"
        return (event.kind, event.outcome, (event.error or "")[:40], tenant, client, grant)

    def exposition(self) -> bytes:
        """The Prometheus text format (0.0.4, which every scraper reads) of every series."""
        return generate_latest(self.registry)
