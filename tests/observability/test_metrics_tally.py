"""Flow-event counts: exact, bounded in their labels, and exposed in the Prometheus text format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pixie.events import ClientAuthenticationFailed, TokenIssued
from pixie.metrics import LABEL_VALUE_LIMIT, Metrics


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
