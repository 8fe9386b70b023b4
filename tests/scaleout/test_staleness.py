"""Per-process caches across instances: a change made through one instance's database (or the CLI) reaches every
instance within seconds — each reads the database's change feed every second — and a key rotation never leaves a
token signed with a key some instance does not publish.

The measurements come from :class:`scaleout.staleness.StalenessWatch`, started with the package (see conftest).
Spec: RFC 7517 §5 and RFC 9068 §4 (tokens verify against the published keys); RFC 6749 §5.2 (``invalid_client``).
"""

from __future__ import annotations

import pytest

from scaleout.load import record_figures
from scaleout.staleness import BOUNDS, StalenessWatch

pytestmark = pytest.mark.postgres

EPSILON = 0.5
"""Clock and commit-time skew: a change's time is taken just after its commit (for keys, the rotating process's
activation time, set just before it)."""


@pytest.mark.parametrize("change", sorted(BOUNDS))
def test_change_reaches_every_instance_within_its_bound(staleness_watch: StalenessWatch, change: str) -> None:
    """No instance answers as before the change to a request sent later than the bound after it, and every
    instance does show the change."""
    seen = staleness_watch.result()[change]
    for name, observation in seen.items():
        assert observation.seen_after is not None, f"{name} never showed {change}"
        assert observation.stale_until is None or observation.stale_until <= BOUNDS[change] + EPSILON, (
            name,
            observation,
        )
        assert not observation.flapped, (name, observation)


def test_every_token_verifies_against_every_instance_during_rotation(staleness_watch: StalenessWatch) -> None:
    observations = staleness_watch.result()
    record_figures(
        "staleness",
        {
            "bounds_seconds": BOUNDS,
            "seen_after_seconds": {c: {n: o.seen_after for n, o in seen.items()} for c, seen in observations.items()},
            "stale_until_seconds": {c: {n: o.stale_until for n, o in seen.items()} for c, seen in observations.items()},
            "rounds": staleness_watch.rounds,
            "requests_sent": staleness_watch.requests,
            "anomalies": staleness_watch.anomalies,
            "inconsistencies": len(staleness_watch.anomalies),
        },
    )
    assert staleness_watch.rounds > 10
    assert staleness_watch.anomalies == []
