"""Rate limits for sign-in, ``/authorize`` and the token endpoint, with counters in memory or shared through Redis.

Sign-in follows OWASP's "Slow Down Online Guessing Attacks with Device Cookies", so that nobody can lock a user
out by failing on purpose:

- A browser that presents a valid device cookie for the username it tries (:mod:`pixie.server.device_cookies`) is
  judged by its own failures only. After ``lockout_after`` of them that device cookie, and nothing else, is locked
  out for a time that doubles with each further failure (30 s, 60 s, ... capped at 15 min).
- Every other browser is throttled three ways: per username *and* address (the same doubling lock-out, for that
  pair alone), per address whatever the usernames (password spraying), and per username across all addresses at a
  bounded rate (a sliding window): a legitimate browser waits at most one window, never an ever-growing lock.
- Whether the username exists changes nothing here (OWASP ASVS 2.2.1, no enumeration). Usernames and device nonces
  are hashed before they become counter keys: Redis never holds them.

``/authorize`` is counted per address, across tenants (they share one database): every request, and apart from that
the requests that leave something pending in the database, so one address cannot fill it. Token requests are
counted per client and per address; dynamic client registrations per address, across tenants.

Counters live in the ``limits`` package's storage: in process memory by default, or in Redis
(``PIXIE_REDIS_URL``) so that several instances share them. When Redis stops answering, the limiter logs it once,
falls back to per-process counters, and tries Redis again every few seconds until it answers (then logs that too).
Limits are a safety net, not a correctness mechanism: a Redis outage must never stop sign-ins.

Spec: RFC 9700 §4.16 (online guessing), RFC 6585 §4 (429 Too Many Requests, Retry-After); OWASP Authentication
Cheat Sheet, "Protect Against Automated Attacks" (device cookies).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.aio.strategies import RateLimiter as Strategy
from redis.asyncio import ConnectionPool

from pixie.config import ConfigError, RateLimits

__all__ = ["RateLimiter", "SignInAttempt", "parse_limits"]

log = logging.getLogger("pixie.ratelimit")

T = TypeVar("T")
_REDIS_RETRY_SECONDS = 5.0
_SWEEP_SECONDS = 10.0
_FAILURE_WINDOW_SECONDS = 900
_KEY_CACHE_LIMIT = 10_000
_ALL_TENANTS = "*"


def parse_limits(limits: RateLimits) -> dict[str, RateLimitItem | None]:
    """The ``limits`` items for the configured strings; raises ``ConfigError`` for one that does not parse."""
    named = (
        ("login_ip", limits.login_failures_per_ip, "PIXIE_RATE_LIMIT_LOGIN_IP"),
        ("login_user", limits.login_failures_per_user, "PIXIE_RATE_LIMIT_LOGIN_USER"),
        ("token_client", limits.token_per_client, "PIXIE_RATE_LIMIT_TOKEN_CLIENT"),
        ("token_ip", limits.token_per_ip, "PIXIE_RATE_LIMIT_TOKEN_IP"),
        ("authorize_ip", limits.authorize_per_ip, "PIXIE_RATE_LIMIT_AUTHORIZE_IP"),
        ("authorize_pending", limits.authorize_pending_per_ip, "PIXIE_RATE_LIMIT_AUTHORIZE_PENDING_IP"),
        ("register_ip", limits.register_per_ip, "PIXIE_RATE_LIMIT_REGISTER_IP"),
    )
    items: dict[str, RateLimitItem | None] = {}
    for name, value, variable in named:
        try:
            items[name] = parse(value) if value else None
        except ValueError:
            raise ConfigError(f"invalid rate limit {variable}={value!r} (write it as '30/minute')") from None
    return items


def _redis_storage(redis_url: str) -> tuple[Storage, ConnectionPool]:
    """Counters in Redis at ``redis_url`` (``redis://host:port/db``), over a pool this module owns and closes."""
    # Short timeouts: a Redis that hangs must cost a sign-in milliseconds, not seconds, before the fallback.
    pool = ConnectionPool.from_url(redis_url, socket_timeout=0.25, socket_connect_timeout=0.25)
    uri = redis_url if redis_url.startswith("async+") else "async+" + redis_url
    # limits documents ``connection_pool`` as an option but types its options as scalars.
    options: dict[str, Any] = {"connection_pool": pool}
    storage = RedisStorage(uri, implementation="redispy", wrap_exceptions=True, key_prefix="pixie", **options)
    return storage, pool


class _SweptMemoryStorage(MemoryStorage):
    """``limits``' process-memory counters, swept for expired keys at most every ``sweep_seconds``.

    ``MemoryStorage`` starts a sweep of *every* key after each increment once the previous sweep has finished, and
    a sweep reads the clock once per key. Keys are per tenant and per address or client, so a server with 5,000
    tenants in use paid for ~10,000 keys on every token request: the SSO flow took 2.4 times as long as with one
    tenant (``bench/tenants.py``), and anyone sending from many addresses could make every request slower. An
    expired key is already ignored when it is read (``MemoryStorage.get`` checks its expiry), so sweeping less often
    only keeps the memory of expired counters a little longer.
    """

    def __init__(self, sweep_seconds: float = _SWEEP_SECONDS) -> None:
        super().__init__()
        self._sweep_seconds = sweep_seconds
        self._next_sweep = 0.0
        self.sweeps = 0
        """Sweeps started (read by the tests)."""

    # The name MemoryStorage's own methods call (a private, name-mangled method): overriding it here is how every
    # increment reaches this check.
    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._sweep_seconds
        self.sweeps += 1
        await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


class _Counters:
    """Runs each counter operation on Redis while it answers, else on process memory."""

    def __init__(self, shared: Storage | None, retry_seconds: float) -> None:
        self._memory: Storage = _SweptMemoryStorage()
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


@dataclass(frozen=True, slots=True)
class SignInAttempt:
    """One try at the login form, as the limits see it."""

    tenant_id: str
    username: str
    ip: str | None
    device: str | None = None
    """The nonce of a valid device cookie *for this username* that the browser sent, else None."""


def _seconds_until(moment: float) -> int:
    return max(1, math.ceil(moment - time.time()))


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

    # -- token endpoint ---------------------------------------------------------------------------------------------

    async def token_from_ip(self, tenant_id: str, ip: str | None) -> int | None:
        """Count a token request from ``ip`` (before client authentication, so guessing secrets is capped too)."""
        item = self._items["token_ip"]
        return None if item is None or not ip else await self._hit(item, "token_ip", tenant_id, ip)

    async def token_for_client(self, tenant_id: str, client_id: str) -> int | None:
        """Count a token request of an authenticated client. Counting only after authentication keeps a stranger
        from spending a confidential client's quota by sending its client_id."""
        item = self._items["token_client"]
        return None if item is None else await self._hit(item, "token_client", tenant_id, client_id)

    # -- /authorize -------------------------------------------------------------------------------------------------

    async def authorize_from_ip(self, ip: str | None) -> int | None:
        """Count an ``/authorize`` request from ``ip``, whatever the tenant, before anything is looked up."""
        item = self._items["authorize_ip"]
        return None if item is None or not ip else await self._hit(item, "authorize_ip", _ALL_TENANTS, ip)

    async def authorize_pending_from_ip(self, ip: str | None) -> int | None:
        """Spend one of ``ip``'s pending authorization requests (called just before one is stored). A sliding
        window as long as a request lives bounds how many one address has stored at any time, across tenants."""
        item = self._items["authorize_pending"]
        if item is None or not ip:
            return None
        return await self._spend(SlidingWindowCounterRateLimiter, item, "authorize_pending", _ALL_TENANTS, ip)

    # -- /register --------------------------------------------------------------------------------------------------

    async def register_from_ip(self, ip: str | None) -> int | None:
        """Count a dynamic client registration from ``ip``, whatever the tenant (RFC 7591 §5: an open endpoint
        must not let one party fill the database)."""
        item = self._items["register_ip"]
        return None if item is None or not ip else await self._hit(item, "register_ip", _ALL_TENANTS, ip)

    # -- sign-in ----------------------------------------------------------------------------------------------------

    async def login_blocked(self, attempt: SignInAttempt) -> int | None:
        """Whether this sign-in may be tried now. A recognised device answers only for its own failures; any other
        browser must not be locked as that username from that address, and both the username (all addresses) and
        the address (all usernames) must have failures left."""
        if attempt.device is not None:
            return await self._lock_left(self._device_key("lock", attempt))
        if attempt.ip:
            locked = await self._lock_left(self._pair_key("lock", attempt))
            if locked is not None:
                return locked
        user_item = self._items["login_user"]
        if user_item is not None:
            wait = await self._left(SlidingWindowCounterRateLimiter, user_item, *self._user_ids(attempt))
            if wait is not None:
                return wait
        ip_item = self._items["login_ip"]
        if ip_item is None or not attempt.ip:
            return None
        return await self._left(FixedWindowRateLimiter, ip_item, "login_ip", attempt.tenant_id, attempt.ip)

    async def login_failed(self, attempt: SignInAttempt) -> None:
        """Record a failed sign-in: against the device alone when it was recognised, else against the username and
        address pair, the username and the address."""
        if attempt.device is not None:
            await self._record_failure(self._device_key("fail", attempt), self._device_key("lock", attempt))
            return
        if attempt.ip:  # without an address there is no pair: the username's rate below still applies
            await self._record_failure(self._pair_key("fail", attempt), self._pair_key("lock", attempt))
        user_item = self._items["login_user"]
        if user_item is not None:
            await self._spend(SlidingWindowCounterRateLimiter, user_item, *self._user_ids(attempt))
        ip_item = self._items["login_ip"]
        if ip_item is not None and attempt.ip:
            await self._spend(FixedWindowRateLimiter, ip_item, "login_ip", attempt.tenant_id, attempt.ip)

    async def login_succeeded(self, attempt: SignInAttempt) -> None:
        """Forget the consecutive failures of this pair and device. The per-username rate is left alone: a success
        somewhere must not hand an attacker elsewhere a fresh set of guesses."""
        keys = [self._pair_key("fail", attempt)]
        if attempt.device is not None:
            keys.append(self._device_key("fail", attempt))

        async def clear(storage: Storage) -> None:
            for key in keys:
                await storage.clear(key)

        await self._counters.run(clear)

    # -- counter operations -----------------------------------------------------------------------------------------

    async def _lock_left(self, lock_key: str) -> int | None:
        async def left(storage: Storage) -> int | None:
            if await storage.get(lock_key) <= 0:
                return None
            return max(1, math.ceil(await storage.get_expiry(lock_key) - time.time()))

        return await self._counters.run(left)

    async def _record_failure(self, fail_key: str, lock_key: str) -> None:
        """Count a consecutive failure; from ``lockout_after`` on, lock for a time that doubles with each one."""
        limits = self.limits

        async def record(storage: Storage) -> None:
            failures = await storage.incr(fail_key, _FAILURE_WINDOW_SECONDS)
            if failures >= limits.lockout_after:
                exponent = min(failures - limits.lockout_after, 20)
                seconds = min(limits.lockout_base_seconds * 2**exponent, limits.lockout_max_seconds)
                await storage.clear(lock_key)  # a fresh key takes the new expiry
                await storage.incr(lock_key, seconds)

        await self._counters.run(record)

    async def _left(
        self, strategy: Callable[[Storage], Strategy], item: RateLimitItem, *identifiers: str
    ) -> int | None:
        """None while ``item`` has room for one more under ``identifiers``, else the seconds until it has."""

        async def left(storage: Storage) -> int | None:
            limiter = strategy(storage)
            if await limiter.test(item, *identifiers):
                return None
            return _seconds_until((await limiter.get_window_stats(item, *identifiers)).reset_time)

        return await self._counters.run(left)

    async def _spend(
        self, strategy: Callable[[Storage], Strategy], item: RateLimitItem, *identifiers: str
    ) -> int | None:
        """Take one from ``item`` under ``identifiers``: None when there was room, else the seconds until there is."""

        async def spend(storage: Storage) -> int | None:
            limiter = strategy(storage)
            if await limiter.hit(item, *identifiers):
                return None
            return _seconds_until((await limiter.get_window_stats(item, *identifiers)).reset_time)

        return await self._counters.run(spend)

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
    def _digest(*parts: str) -> str:
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]

    @classmethod
    def _user_ids(cls, attempt: SignInAttempt) -> tuple[str, str, str]:
        return "login_user", attempt.tenant_id, cls._digest(attempt.tenant_id, attempt.username.strip().lower())

    @classmethod
    def _pair_key(cls, kind: str, attempt: SignInAttempt) -> str:
        username = attempt.username.strip().lower()
        return f"login-pair-{kind}/{cls._digest(attempt.tenant_id, username, attempt.ip or '')}"

    @classmethod
    def _device_key(cls, kind: str, attempt: SignInAttempt) -> str:
        return f"device-{kind}/{cls._digest(attempt.tenant_id, attempt.device or '')}"
