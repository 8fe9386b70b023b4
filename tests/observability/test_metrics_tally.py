"""Flow-event counts: exact, bounded in their labels, and exposed in the Prometheus text format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pixie.events import ClientAuthenticationFailed, TokenIssued
from pixie.server.prometheus import LABEL_VALUE_LIMIT, Metrics


def _samples(metrics: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = metrics.exposition().decode()
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_counts_are_exact_per_label_set() -> None:
    metrics = Metrics()
    for _ in range(3):
        metrics.record_event(TokenIssued(tenant_id="t", client_id="a", grant_type="client_credentials"))
    metrics.record_event(TokenIssued(tenant_id="t", client_id="b", grant_type="refresh_token"))
    grants = _samples(metrics, "pixie_token_grants_total")
    assert sorted(grants.values()) == [1.0, 3.0]
    events = _samples(metrics, "pixie_flow_events_total")
    assert list(events.values()) == [4.0]  # tenant and client labels are off by default: one series


def test_hostile_label_values_stay_bounded() -> None:
    metrics = Metrics(labels=["client"])
    for number in range(LABEL_VALUE_LIMIT + 50):
        hostile = ClientAuthenticationFailed(tenant_id="t", client_id=f"made-up-{number}", outcome="failure")
        metrics.record_event(hostile)
        metrics.record_event(TokenIssued(tenant_id="t", grant_type=f"urn:x:{number}", outcome="failure"))
    events = _samples(metrics, "pixie_flow_events_total")
    clients = {dict(labels)["client"] for labels in events}
    assert len(clients) == LABEL_VALUE_LIMIT + 2  # the first 100 ids, "other", and "-" for no client
    grants = _samples(metrics, "pixie_token_grants_total")
    assert {dict(labels)["grant_type"] for labels in grants} == {"other"}
    assert sum(events.values()) == 2 * (LABEL_VALUE_LIMIT + 50)


def test_request_tallies_follow_prometheus_histogram_semantics() -> None:
    """A latency equal to a bucket's bound falls in that bucket (``le``); buckets are cumulative; one endpoint's
    statuses and methods share its histogram; the request counter keeps them apart."""
    metrics = Metrics()
    for seconds in (0.001, 0.003, 100.0):
        metrics.observe_request("/token", "POST", 200, seconds)
    metrics.observe_request("/token", "POST", 400, 0.0001)
    metrics.observe_request("/authorize", "GET", 302, 0.02)
    buckets = {
        dict(labels)["le"]: value
        for labels, value in _samples(metrics, "pixie_http_request_duration_seconds_bucket").items()
        if dict(labels)["endpoint"] == "/token"
    }
    assert (buckets["0.001"], buckets["0.0025"], buckets["0.005"], buckets["5.0"], buckets["+Inf"]) == (2, 2, 3, 3, 4)
    sums = _samples(metrics, "pixie_http_request_duration_seconds_sum")
    assert sums[(("endpoint", "/token"),)] == 0.001 + 0.003 + 100.0 + 0.0001
    assert _samples(metrics, "pixie_http_request_duration_seconds_count")[(("endpoint", "/authorize"),)] == 1
    requests = _samples(metrics, "pixie_http_requests_total")
    assert requests[(("endpoint", "/token"), ("method", "POST"), ("status", "200"))] == 3
    assert requests[(("endpoint", "/token"), ("method", "POST"), ("status", "400"))] == 1
