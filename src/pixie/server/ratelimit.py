"""Rate limits for sign-in and the token endpoint, with counters in memory or shared through Redis.

- Failed sign-ins lock a username out for a time that doubles with each further failure (30 s, 60 s, ... capped at
  15 min), and failed sign-ins per client IP are capped. The lock-out answers with the same generic message whether
  or not the username exists, so it reveals nothing (RFC 9700 §4.16 asks for brute-force protection; OWASP ASVS
  2.2.1 for no enumeration). Usernames are hashed before they become counter keys: Redis never holds them.
- Token requests are counted per client and per IP.

Counters live in the ``limits`` package's storage: in process memory by default, or in Redis
(``PIXIE_REDIS_URL``) so that several instances share them. When Redis stops answering, the limiter logs it once,
falls back to per-process counters, and tries Redis again every few seconds until it answers (then logs that too).
Limits are a safety net, not a correctness mechanism: a Redis outage must never stop sign-ins.

Spec: RFC 9700 §4.16 (online guessing), RFC 6585 §4 (429 Too Many Requests, Retry-After).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.asyncio import ConnectionPool

from pixie.config import ConfigError, RateLimits

__all__ = ["RateLimiter", "parse_limits"]

log = logging.getLogger("pixie.ratelimit")

T = TypeVar("T")
_REDIS_RETRY_SECONDS = 5.0
_FAILURE_WINDOW_SECONDS = 900
_KEY_CACHE_LIMIT = 10_000


def parse_limits(limits: RateLimits) -> dict[str, RateLimitItem | None]:
    """The ``limits`` items for the configured strings; raises ``ConfigError`` for one that does not parse."""
    try:
        return {
            name: parse(value) if value else None
            for name, value in (
                ("login_ip", limits.login_failures_per_ip),
                ("token_client", limits.token_per_client),
                ("token_ip", limits.token_per_ip),
            )
        }
    except ValueError as exc:
        raise ConfigError(f"invalid rate limit: {exc}") from None


def _redis_storage(redis_url: str) -> tuple[Storage, ConnectionPool]:
    """Counters in Redis at ``redis_url`` (``redis://host:port/db``), over a pool this module owns and closes."""
    # Short timeouts: a Redis that hangs must cost a sign-in milliseconds, not seconds, before the fallback.
    pool = ConnectionPool.from_url(redis_url, socket_timeout=0.25, socket_connect_timeout=0.25)
    uri = redis_url if redis_url.startswith("async+") else "async+" + redis_url
    # limits documents ``connection_pool`` as an option but types its options as scalars.
    options: dict[str, Any] = {"connection_pool": pool}
    storage = RedisStorage(uri, implementation="redispy", wrap_exceptions=True, key_prefix="pixie", **options)
    return storage, pool


class _Counters:
    """Runs each counter operation on Redis while it answers, else on process memory."""

    def __init__(self, shared: Storage | None, retry_seconds: float) -> None:
        self._memory: Storage = MemoryStorage()
        self._shared = shared
        self._retry_seconds = retry_seconds
        self._retry_at = 0.0
        self._degraded = False

    async def run(self, operation: Callable[[Storage], Awaitable[T]]) -> T:
        if self._shared is not None and time.monotonic() >= self._retry_at:
            try:
                result = await operation(self._shared)
            except Exception as exc:  # any Redis failure: connection, timeout, protocol
                self._retry_at = time.monotonic() + self._retry_seconds
                if not self._degraded:
                    self._degraded = True
                    log.warning("redis is unreachable (%s); rate limits are per process until it returns", exc)
            else:
                if self._degraded:
                    self._degraded = False
                    log.warning("redis is reachable again; rate limits are shared across instances")
                return result
        return await operation(self._memory)

    @property
    def degraded(self) -> bool:
        return self._degraded


class RateLimiter:
    """The checks the endpoints make. Each returns ``None`` when the request may go on, else the number of
    seconds after which the caller may retry (for ``Retry-After``)."""

    def __init__(
        self, limits: RateLimits, *, redis_url: str | None = None, redis_retry_seconds: float = _REDIS_RETRY_SECONDS
    ) -> None:
        self.limits = limits
        self._items = parse_limits(limits)
        self._pool: ConnectionPool | None = None
        shared: Storage | None = None
        if redis_url:
            shared, self._pool = _redis_storage(redis_url)
        self._counters = _Counters(shared, redis_retry_seconds)
        self._keys: dict[tuple[str, str, str], str] = {}

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    @property
    def degraded(self) -> bool:
        """True while Redis is configured but unreachable (limits are per process meanwhile)."""
        return self._counters.degraded

    async def token_from_ip(self, tenant_id: str, ip: str | None) -> int | None:
        """Count a token request from ``ip`` (before client authentication, so guessing secrets is capped too)."""
        item = self._items["token_ip"]
        return None if item is None or not ip else await self._hit(item, "token_ip", tenant_id, ip)

    async def token_for_client(self, tenant_id: str, client_id: str) -> int | None:
        """Count a token request of an authenticated client. Counting only after authentication keeps a stranger
        from spending a confidential client's quota by sending its client_id."""
        item = self._items["token_client"]
        return None if item is None else await self._hit(item, "token_client", tenant_id, client_id)

    async def login_blocked(self, tenant_id: str, username: str, ip: str | None) -> int | None:
        """Whether a sign-in may be tried now: the username is not locked and the IP has failures left."""
        lock_key = self._user_key("lock", tenant_id, username)

        async def lock_left(storage: Storage) -> int | None:
            if await storage.get(lock_key) <= 0:
                return None
            return max(1, math.ceil(await storage.get_expiry(lock_key) - time.time()))

        locked = await self._counters.run(lock_left)
        if locked is not None:
            return locked
        item = self._items["login_ip"]
        if item is None or not ip:
            return None

        async def ip_left(storage: Storage) -> int | None:
            limiter = FixedWindowRateLimiter(storage)
            if await limiter.test(item, "login_ip", tenant_id, ip):
                return None
            stats = await limiter.get_window_stats(item, "login_ip", tenant_id, ip)
            return max(1, math.ceil(stats.reset_time - time.time()))

        return await self._counters.run(ip_left)

    async def login_failed(self, tenant_id: str, username: str, ip: str | None) -> None:
        """Record a failed sign-in; lock the username out when it has failed too often, for a doubling time."""
        fail_key = self._user_key("fail", tenant_id, username)
        lock_key = self._user_key("lock", tenant_id, username)
        limits = self.limits

        async def record(storage: Storage) -> None:
            failures = await storage.incr(fail_key, _FAILURE_WINDOW_SECONDS)
            if failures >= limits.lockout_after:
                exponent = min(failures - limits.lockout_after, 20)
                seconds = min(limits.lockout_base_seconds * 2**exponent, limits.lockout_max_seconds)
                await storage.clear(lock_key)  # a fresh key takes the new expiry
                await storage.incr(lock_key, seconds)

        await self._counters.run(record)
        item = self._items["login_ip"]
        if item is not None and ip:
            await self._counters.run(
                lambda storage: FixedWindowRateLimiter(storage).hit(item, "login_ip", tenant_id, ip)
            )

    async def login_succeeded(self, tenant_id: str, username: str) -> None:
        fail_key = self._user_key("fail", tenant_id, username)
        await self._counters.run(lambda storage: storage.clear(fail_key))

    async def _hit(self, item: RateLimitItem, name: str, tenant_id: str, who: str) -> int | None:
        # What ``FixedWindowRateLimiter.hit`` does (the same key, so instances sharing Redis agree), without its
        # per-call costs: building the key escapes and joins every part, twice per token request, so keys are kept.
        key = self._keys.get((name, tenant_id, who))
        if key is None:
            if len(self._keys) >= _KEY_CACHE_LIMIT:  # bounded whatever IPs and client ids come along
                self._keys.clear()
            key = self._keys[(name, tenant_id, who)] = item.key_for(name, tenant_id, who)
        expiry, amount = item.get_expiry(), item.amount

        async def hit(storage: Storage) -> int | None:
            if await storage.incr(key, expiry) <= amount:
                return None
            return max(1, math.ceil(await storage.get_expiry(key) - time.time()))

        return await self._counters.run(hit)

    @staticmethod
    def _user_key(kind: str, tenant_id: str, username: str) -> str:
        digest = hashlib.sha256(f"{tenant_id}\x00{username.strip().lower()}".encode()).hexdigest()[:32]
        return f"login-{kind}/{digest}"
