"""Rate limits as a client sees them: two real Pixie servers on loopback sharing one SQLite file and the real Redis.

A lock-out of a username from one address, earned on one instance, holds on the other; a locked username and an
unknown one get the same answer;
the token endpoint answers 429 with ``Retry-After`` and an RFC 6749 §5.2 error body.

Spec: RFC 9700 §4.16, RFC 6585 §4, ARCHITECTURE §6.7.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import RateLimits, Settings
from pixie.management import create_user, ensure_default_tenant, register_client
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing
from services import redis_url
from spec.support import SCOPES, SPA_CB, Browser, Pixie, authorize_pairs

MASTER_KEY = b"ratelimit-suite-master-key-32by!"
SECRET = "svc-secret-for-the-rate-limit-tests"
PASSWORD = "correct-horse-battery"
LIMITS = RateLimits(
    login_failures_per_ip="",  # every request comes from 127.0.0.1: the per-IP cap has its own test in test_limiter
    lockout_after=3,
    lockout_base_seconds=30,
    token_per_client="4/minute",
    token_per_ip="",
    authorize_per_ip="",  # /authorize has its own tests (test_authorize_flood); Redis keeps address counters 10 min
    authorize_pending_per_ip="",
)


async def _seed(database_url: str, users: list[str], clients: list[str]) -> None:
    async with open_storage(database_url) as storage:
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER_KEY))
        await register_client(storage, "default", "spa", redirect_uris=[SPA_CB], public=True, scopes=SCOPES)
        for client_id in clients:
            await register_client(
                storage,
                "default",
                client_id,
                redirect_uris=[],
                public=False,
                secret=SECRET,
                scopes=SCOPES,
                grant_types=["client_credentials"],
            )
        for username in users:
            await create_user(storage, "default", username, PASSWORD)


# Redis outlives test runs: names are unique per run so old counters never decide a test.
RUN = secrets.token_hex(4)
USERS = {name: f"{name}-{RUN}" for name in ("carol", "erin")}
CLIENTS = {name: f"{name}-{RUN}" for name in ("svc", "svc2")}


@pytest.fixture(scope="module")
def instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pixie, Pixie]]:
    """Two Pixie servers on one database and one Redis, as behind a load balancer."""
    db_path = tmp_path_factory.mktemp("ratelimit") / "pixie.db"
    database_url = f"sqlite:///{db_path}"
    run_coroutine(_seed(database_url, list(USERS.values()), list(CLIENTS.values())))
    port_a = free_port()
    issuer = f"http://127.0.0.1:{port_a}"
    settings = Settings(
        database_url=database_url, issuer=issuer, master_key=MASTER_KEY, redis_url=redis_url(), rate_limits=LIMITS
    )
    with ExitStack() as stack:
        base_a = stack.enter_context(serve_pixie(settings))
        # Same issuer on both: they are one authorization server to the outside.
        base_b = stack.enter_context(serve_pixie(settings, port=free_port()))
        yield Pixie(base=base_a, db_path=db_path), Pixie(base=base_b, db_path=db_path)


def _try_login(pixie: Pixie, username: str, password: str) -> tuple[int, str, str | None]:
    with Browser(pixie) as browser:
        page = browser.login_page(authorize_pairs(client_id="spa", redirect_uri=SPA_CB))
        response = browser.submit_login(page, username, password)
        return response.status_code, response.text, response.headers.get("retry-after")


def test_lockout_earned_on_one_instance_holds_on_the_other(instances: tuple[Pixie, Pixie]) -> None:
    """RFC 9700 §4.16: after repeated failures from one address the username is locked there, on every instance,
    even for the right password; the page says so without saying whether the account exists."""
    a, b = instances
    carol = USERS["carol"]
    for _ in range(LIMITS.lockout_after):
        status, body, _ = _try_login(a, carol, "wrong-password")
        assert status == 200 and "Invalid username or password." in body
    status, body, retry_after = _try_login(b, carol, PASSWORD)
    assert status == 429
    assert "Too many sign-in attempts" in body and "Invalid username or password." not in body
    assert retry_after is not None and 1 <= int(retry_after) <= LIMITS.lockout_base_seconds


def test_an_unknown_username_is_locked_out_the_same_way(instances: tuple[Pixie, Pixie]) -> None:
    """No enumeration: a username that does not exist fails, locks and answers exactly like a real one."""
    a, b = instances
    ghost = "nobody-" + secrets.token_hex(4)
    answers = [_try_login(a if i % 2 else b, ghost, "whatever")[:2] for i in range(LIMITS.lockout_after)]
    assert {status for status, _ in answers} == {200}
    status, body, retry_after = _try_login(a, ghost, "whatever")
    assert (status, retry_after is not None) == (429, True)
    assert "Too many sign-in attempts" in body


def test_a_successful_login_clears_earlier_failures(instances: tuple[Pixie, Pixie]) -> None:
    a, b = instances
    erin = USERS["erin"]
    for _ in range(LIMITS.lockout_after - 1):
        assert _try_login(a, erin, "nope")[0] == 200
    status, _, _ = _try_login(b, erin, PASSWORD)
    assert status == 303, "the right password before the lock-out signs in"
    for _ in range(LIMITS.lockout_after - 1):
        assert _try_login(b, erin, "nope")[0] == 200
    assert _try_login(a, erin, PASSWORD)[0] == 303, "the count started again after the success"


def test_token_endpoint_answers_429_with_retry_after_across_instances(instances: tuple[Pixie, Pixie]) -> None:
    """ARCHITECTURE §6.7: the token endpoint is limited per client, across instances, with 429 + Retry-After and
    a JSON error that clients already know how to retry (``temporarily_unavailable``)."""
    a, b = instances
    client_id = CLIENTS["svc"]
    statuses = []
    for index in range(5):
        with (a if index % 2 else b).client() as http:
            response = http.post("/token", data={"grant_type": "client_credentials"}, auth=(client_id, SECRET))
            statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 200, 429]
    assert response.headers["cache-control"] == "no-store"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.json()["error"] == "temporarily_unavailable"


def test_failed_client_authentication_does_not_spend_the_clients_quota(instances: tuple[Pixie, Pixie]) -> None:
    """A stranger who knows a client_id but not its secret cannot use up that client's limit."""
    a, _ = instances
    client_id = CLIENTS["svc2"]
    with a.client() as http:
        for _ in range(6):
            response = http.post("/token", data={"grant_type": "client_credentials"}, auth=(client_id, "guessed"))
            assert response.status_code == 401, response.text
        response = http.post("/token", data={"grant_type": "client_credentials"}, auth=(client_id, SECRET))
        assert response.status_code == 200, response.text
