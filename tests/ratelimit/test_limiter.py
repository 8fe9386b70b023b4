"""The rate limiter on its own, with its real counter stores: process memory, the real Redis at 127.0.0.1:6379, and
a Redis that goes away and comes back (a real ``redis-server`` on a free port).

Spec: RFC 9700 §4.16 (brute force), RFC 6585 §4 (429 + Retry-After), ARCHITECTURE §6.7.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from livesupport import free_port
from pixie.config import ConfigError, RateLimits
from pixie.server.ratelimit import RateLimiter

REDIS = "redis://127.0.0.1:6379/0"
FAST = RateLimits(
    login_failures_per_ip="4/minute",
    lockout_after=3,
    lockout_base_seconds=1,
    lockout_max_seconds=4,
    token_per_client="3/minute",
    token_per_ip="5/minute",
)


def _name() -> str:
    return "user-" + secrets.token_hex(6)


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    made = RateLimiter(FAST, redis_url=REDIS if request.param == "redis" else None)
    yield made  # type: ignore[misc]
    if request.param == "redis":
        assert not made.degraded, "the real Redis must have answered every call"
    await made.aclose()


async def test_username_locks_after_repeated_failures_and_the_lock_doubles(limiter: RateLimiter) -> None:
    """RFC 9700 §4.16: repeated failures lock the username out, each further failure for twice as long."""
    user = _name()
    for _ in range(FAST.lockout_after - 1):
        await limiter.login_failed("default", user, None)
        assert await limiter.login_blocked("default", user, None) is None
    await limiter.login_failed("default", user, None)
    first = await limiter.login_blocked("default", user, None)
    assert first == 1
    assert await limiter.login_blocked("default", user.upper(), None) == 1, "usernames compare case-insensitively"
    assert await limiter.login_blocked("other-tenant", user, None) is None, "a lock belongs to one tenant"
    await asyncio.sleep(1.1)
    assert await limiter.login_blocked("default", user, None) is None
    await limiter.login_failed("default", user, None)
    assert await limiter.login_blocked("default", user, None) == 2


async def test_success_resets_the_failure_count(limiter: RateLimiter) -> None:
    user = _name()
    for _ in range(FAST.lockout_after - 1):
        await limiter.login_failed("default", user, None)
    await limiter.login_succeeded("default", user)
    await limiter.login_failed("default", user, None)
    assert await limiter.login_blocked("default", user, None) is None


async def test_failures_per_ip_are_capped_across_usernames(limiter: RateLimiter) -> None:
    """Password spraying: one IP trying one password on many accounts is stopped by the per-IP cap."""
    ip = f"198.51.100.{secrets.randbelow(250)}-{secrets.token_hex(3)}"
    for _ in range(4):
        assert await limiter.login_blocked("default", _name(), ip) is None
        await limiter.login_failed("default", _name(), ip)
    wait = await limiter.login_blocked("default", _name(), ip)
    assert wait is not None and 1 <= wait <= 60


async def test_token_requests_are_counted_per_client_and_per_ip(limiter: RateLimiter) -> None:
    client, ip = "client-" + secrets.token_hex(4), "ip-" + secrets.token_hex(4)
    assert [await limiter.token_for_client("default", client) for _ in range(4)][:3] == [None, None, None]
    wait = await limiter.token_for_client("default", client)
    assert wait is not None and 1 <= wait <= 60
    assert await limiter.token_for_client("default", client + "-other") is None
    results = [await limiter.token_from_ip("default", ip) for _ in range(6)]
    assert results[:5] == [None] * 5 and results[5] is not None


async def test_redis_counters_are_shared_between_instances() -> None:
    """Two instances on one Redis see each other's failures: a lock-out earned on A holds on B."""
    a, b = RateLimiter(FAST, redis_url=REDIS), RateLimiter(FAST, redis_url=REDIS)
    try:
        user = _name()
        for _ in range(FAST.lockout_after):
            await a.login_failed("default", user, None)
        assert await b.login_blocked("default", user, None) == 1
    finally:
        await a.aclose()
        await b.aclose()


def test_a_bad_limit_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="invalid rate limit"):
        RateLimiter(RateLimits(token_per_client="lots per minute"))
    with pytest.raises(ConfigError, match="PIXIE_LOGIN_LOCKOUT_AFTER"):
        RateLimits.from_env({"PIXIE_LOGIN_LOCKOUT_AFTER": "five"})
    assert RateLimits.from_env({"PIXIE_RATE_LIMIT_TOKEN_CLIENT": "7/second"}).token_per_client == "7/second"


class OwnRedis:
    """A real redis-server on a free port that a test can stop and start again."""

    def __init__(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            pytest.fail("redis-server is missing: the machine's Redis package provides it")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._command = [server, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ping = ["redis-cli", "-p", str(self.port), "ping"]
        deadline = time.monotonic() + 10
        while subprocess.run(ping, capture_output=True, check=False).stdout.strip() != b"PONG":
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
