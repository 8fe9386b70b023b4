"""The rate limiter on its own, with its real counter stores: process memory, the run's real Redis (:mod:`services`),
and a Redis that goes away and comes back (a real ``redis-server`` on a free port).

Spec: RFC 9700 §4.16 (brute force), RFC 6585 §4 (429 + Retry-After), ARCHITECTURE §6.7; OWASP Authentication Cheat
Sheet (device cookies: slow unknown browsers down, lock only the device that failed).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import subprocess
import time
from collections.abc import Iterator

import pytest

from livesupport import free_port
from pixie.config import ConfigError, RateLimits
from pixie.server.ratelimit import RateLimiter, SignInAttempt
from services import redis_answers, redis_server_executable, redis_url

FAST = RateLimits(
    login_failures_per_ip="4/minute",
    login_failures_per_user="6/second",
    lockout_after=3,
    lockout_base_seconds=1,
    lockout_max_seconds=4,
    token_per_client="3/minute",
    token_per_ip="5/minute",
    authorize_per_ip="5/minute",
    authorize_pending_per_ip="3/minute",
)


def _name() -> str:
    return "user-" + secrets.token_hex(6)


def _ip() -> str:
    # Redis outlives test runs: addresses are unique per test so old counters never decide one.
    return f"198.51.100.{secrets.randbelow(250)}-{secrets.token_hex(3)}"


def _attempt(user: str, ip: str | None = None, device: str | None = None, tenant: str = "default") -> SignInAttempt:
    return SignInAttempt(tenant_id=tenant, username=user, ip=ip, device=device)


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    made = RateLimiter(FAST, redis_url=redis_url() if request.param == "redis" else None)
    yield made  # type: ignore[misc]
    if request.param == "redis":
        assert not made.degraded, "the real Redis must have answered every call"
    await made.aclose()


async def test_a_username_and_address_pair_locks_and_the_lock_doubles(limiter: RateLimiter) -> None:
    """RFC 9700 §4.16: repeated failures of one username from one address lock that pair out, each further failure
    for twice as long — and only that pair: the same username from elsewhere may still try."""
    user, ip = _name(), _ip()
    for _ in range(FAST.lockout_after - 1):
        await limiter.login_failed(_attempt(user, ip))
        assert await limiter.login_blocked(_attempt(user, ip)) is None
    await limiter.login_failed(_attempt(user, ip))
    assert await limiter.login_blocked(_attempt(user, ip)) == 1
    assert await limiter.login_blocked(_attempt(user.upper(), ip)) == 1, "usernames compare case-insensitively"
    assert await limiter.login_blocked(_attempt(user, _ip())) is None, "another address is not locked"
    assert await limiter.login_blocked(_attempt(user, ip, tenant="other")) is None, "a lock belongs to one tenant"
    await asyncio.sleep(1.1)
    assert await limiter.login_blocked(_attempt(user, ip)) is None
    await limiter.login_failed(_attempt(user, ip))
    assert await limiter.login_blocked(_attempt(user, ip)) == 2


async def test_a_username_is_slowed_down_across_addresses_not_locked(limiter: RateLimiter) -> None:
    """OWASP device cookies, "slow down": failures for one username from many addresses spend a bounded rate; once
    it is spent every unknown browser waits at most one window, then may try again."""
    user = _name()
    for _ in range(6):
        await limiter.login_failed(_attempt(user, _ip()))
    wait = await limiter.login_blocked(_attempt(user, _ip()))
    assert wait == 1, "a fresh address waits for the username's window, which is one second here"
    assert await limiter.login_blocked(_attempt(_name(), _ip())) is None, "other usernames are not slowed"
    await asyncio.sleep(1.05)
    assert await limiter.login_blocked(_attempt(user, _ip())) is None


async def test_a_known_device_is_judged_by_its_own_failures_only(limiter: RateLimiter) -> None:
    """A browser with the user's device cookie is not locked by failures from elsewhere (OWASP device cookies);
    its own failures lock that device cookie alone."""
    user, ip = _name(), _ip()
    device, other_device = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    for _ in range(10):  # the username's rate spent, the pair and the address locked
        await limiter.login_failed(_attempt(user, ip))
    assert await limiter.login_blocked(_attempt(user, ip)) is not None
    assert await limiter.login_blocked(_attempt(user, ip, device)) is None, "even from the attacker's address"
    for _ in range(FAST.lockout_after):
        await limiter.login_failed(_attempt(user, _ip(), device))
    assert await limiter.login_blocked(_attempt(user, _ip(), device)) == 1, "its own failures lock the device"
    assert await limiter.login_blocked(_attempt(user, _ip(), other_device)) is None, "another device is untouched"


async def test_success_resets_the_pair_but_not_the_usernames_rate(limiter: RateLimiter) -> None:
    user, ip = _name(), _ip()
    for _ in range(FAST.lockout_after - 1):
        await limiter.login_failed(_attempt(user, ip))
    await limiter.login_succeeded(_attempt(user, ip))
    await limiter.login_failed(_attempt(user, ip))
    assert await limiter.login_blocked(_attempt(user, ip)) is None, "the consecutive count started again"
    for _ in range(3):
        await limiter.login_failed(_attempt(user, _ip()))
    await limiter.login_succeeded(_attempt(user, ip))
    assert await limiter.login_blocked(_attempt(user, _ip())) is not None, "a success elsewhere refills nothing"


async def test_failures_per_ip_are_capped_across_usernames(limiter: RateLimiter) -> None:
    """Password spraying: one IP trying one password on many accounts is stopped by the per-IP cap."""
    ip = _ip()
    for _ in range(4):
        assert await limiter.login_blocked(_attempt(_name(), ip)) is None
        await limiter.login_failed(_attempt(_name(), ip))
    wait = await limiter.login_blocked(_attempt(_name(), ip))
    assert wait is not None and 1 <= wait <= 60


async def test_authorize_requests_and_pending_requests_are_counted_per_ip(limiter: RateLimiter) -> None:
    """``/authorize`` per address, whatever the tenant; pending requests per address, within their own budget."""
    ip, other = _ip(), _ip()
    results = [await limiter.authorize_from_ip(ip) for _ in range(6)]
    assert results[:5] == [None] * 5
    assert results[5] is not None and 1 <= results[5] <= 60
    assert await limiter.authorize_from_ip(other) is None
    pending = [await limiter.authorize_pending_from_ip(ip) for _ in range(4)]
    assert pending[:3] == [None] * 3
    assert pending[3] is not None and 1 <= pending[3] <= 60
    assert await limiter.authorize_pending_from_ip(None) is None, "no address, nothing to count against"


async def test_token_requests_are_counted_per_client_and_per_ip(limiter: RateLimiter) -> None:
    client, ip = "client-" + secrets.token_hex(4), "ip-" + secrets.token_hex(4)
    assert [await limiter.token_for_client("default", client) for _ in range(4)][:3] == [None, None, None]
    wait = await limiter.token_for_client("default", client)
    assert wait is not None and 1 <= wait <= 60
    assert await limiter.token_for_client("default", client + "-other") is None
    results = [await limiter.token_from_ip("default", ip) for _ in range(6)]
    assert results[:5] == [None] * 5 and results[5] is not None


async def test_process_counters_are_not_swept_on_every_request() -> None:
    """``limits``' MemoryStorage swept every key after each increment, so every token request paid for every
    tenant, client and address counted so far. Pixie's process counters sweep at most every 10 s; an expired
    counter is still ignored when read."""
    limiter = RateLimiter(RateLimits(token_per_ip="2/second"))
    memory = limiter._counters._memory
    for tenant in range(3000):  # one counter per tenant and address
        assert await limiter.token_from_ip(f"t{tenant}", "203.0.113.9") is None
    await asyncio.sleep(0)  # let a scheduled sweep run
    assert memory.sweeps == 1  # type: ignore[attr-defined]
    ip = "203.0.113.10"
    assert [await limiter.token_from_ip("default", ip) for _ in range(3)][2] is not None
    await asyncio.sleep(1.1)  # the window ends; no sweep has run since
    assert memory.sweeps == 1  # type: ignore[attr-defined]
    assert await limiter.token_from_ip("default", ip) is None


async def test_redis_counters_are_shared_between_instances() -> None:
    """Two instances on one Redis see each other's failures: a lock-out earned on A holds on B."""
    a, b = RateLimiter(FAST, redis_url=redis_url()), RateLimiter(FAST, redis_url=redis_url())
    try:
        user, ip = _name(), _ip()
        for _ in range(FAST.lockout_after):
            await a.login_failed(_attempt(user, ip))
        assert await b.login_blocked(_attempt(user, ip)) == 1
    finally:
        await a.aclose()
        await b.aclose()


def test_a_bad_limit_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="invalid rate limit PIXIE_RATE_LIMIT_TOKEN_CLIENT='lots per minute'"):
        RateLimiter(RateLimits(token_per_client="lots per minute"))
    with pytest.raises(ConfigError, match="PIXIE_RATE_LIMIT_AUTHORIZE_PENDING_IP"):
        RateLimiter(RateLimits.from_env({"PIXIE_RATE_LIMIT_AUTHORIZE_PENDING_IP": "many"}))
    with pytest.raises(ConfigError, match="PIXIE_LOGIN_LOCKOUT_AFTER"):
        RateLimits.from_env({"PIXIE_LOGIN_LOCKOUT_AFTER": "five"})
    limits = RateLimits.from_env(
        {
            "PIXIE_RATE_LIMIT_TOKEN_CLIENT": "7/second",
            "PIXIE_RATE_LIMIT_LOGIN_USER": "3/minute",
            "PIXIE_RATE_LIMIT_AUTHORIZE_IP": "",
            "PIXIE_RATE_LIMIT_AUTHORIZE_PENDING_IP": "50 per 10 minutes",
        }
    )
    assert (limits.token_per_client, limits.login_failures_per_user) == ("7/second", "3/minute")
    assert (limits.authorize_per_ip, limits.authorize_pending_per_ip) == ("", "50 per 10 minutes")


class OwnRedis:
    """A real redis-server on a free port that a test can stop and start again."""

    def __init__(self) -> None:
        server = redis_server_executable()
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._command = [server, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not redis_answers(self.url):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    redis = OwnRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


async def test_redis_outage_falls_back_to_process_counters_and_recovers(
    own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """If Redis goes away, limits keep working per process (and it is logged); when it returns, shared again."""
    limiter = RateLimiter(FAST, redis_url=own_redis.url, redis_retry_seconds=0.2)
    caplog.set_level(logging.WARNING, logger="pixie.ratelimit")
    try:
        client = "client-" + secrets.token_hex(4)
        assert await limiter.token_for_client("default", client) is None
        assert not limiter.degraded

        await asyncio.to_thread(own_redis.kill)
        started = time.monotonic()
        outcomes = [await limiter.token_for_client("default", client) for _ in range(4)]
        assert time.monotonic() - started < 2, "a dead Redis must not stall requests"
        assert limiter.degraded
        assert outcomes[:3] == [None, None, None] and outcomes[3] is not None, "memory counters still limit"
        assert "rate limits are per process" in caplog.text

        await asyncio.to_thread(own_redis.start)
        deadline = time.monotonic() + 10
        while limiter.degraded:
            assert time.monotonic() < deadline, "the limiter did not go back to Redis"
            await asyncio.sleep(0.25)
            await limiter.token_for_client("default", "probe-" + secrets.token_hex(4))
        assert "reachable again" in caplog.text
    finally:
        await limiter.aclose()
