"""Settings for one Pixie instance, and the master key that encrypts signing keys at rest.

Settings are a value passed down from the composition root (no module-level globals), so tests and tenants can
differ inside one process.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_EVENTS_RETENTION_DAYS",
    "ConfigError",
    "RateLimits",
    "Settings",
    "load_master_key",
    "parse_forwarded_allow_ips",
    "validate_issuer",
]

DEFAULT_DATABASE_URL = "sqlite:///pixie.db"
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

log = logging.getLogger("pixie.config")


DEFAULT_EVENTS_RETENTION_DAYS = 30.0
"""Days flow events are kept unless ``PIXIE_EVENTS_RETENTION_DAYS`` says otherwise (server and ``pixie db purge``)."""


class ConfigError(ValueError):
    """A setting that cannot work. The message is one line, fit for the command line."""


@dataclass(frozen=True)
class RateLimits:
    """Limits as ``limits`` strings ("30/minute", "300 per 10 minutes"); an empty string turns that limit off.

    Sign-in follows OWASP's "Slow Down Online Guessing Attacks with Device Cookies": a browser that has signed in
    as a user before carries a device cookie for that user, and only its own failures can lock it
    (``lockout_*``). Browsers without one are throttled per username *and* address (``lockout_*``), per address
    (``login_failures_per_ip``) and, for all of them together, per username at a bounded rate
    (``login_failures_per_user``): slowed down, never locked out, so failures from elsewhere cannot keep a user out.
    """

    login_failures_per_ip: str = "30/minute"
    """Failed sign-ins from one address, whatever the usernames (password spraying)."""
    login_failures_per_user: str = "5/minute"
    """Failed sign-ins for one username from browsers without that user's device cookie, all addresses together.
    A rate, not a lock-out: once spent, such browsers wait at most one window for the next try."""
    lockout_after: int = 5
    """Consecutive failed sign-ins (within 15 min) of one username from one address, or of one device cookie,
    before that pair or that device is locked out (only that one)."""
    lockout_base_seconds: int = 30
    """The first lock-out; each further failure doubles it, up to ``lockout_max_seconds``."""
    lockout_max_seconds: int = 900
    token_per_client: str = "3000/minute"  # noqa: S105  (a rate, not a secret)
    token_per_ip: str = "6000/minute"  # noqa: S105
    authorize_per_ip: str = "600/minute"
    """``/authorize`` requests from one address, counted across tenants before anything is looked up."""
    authorize_pending_per_ip: str = "300 per 10 minutes"
    """Authorization requests one address may leave pending (stored for login or consent) within the window, across
    tenants: what one address can add to the database. Match the window to the tenants' ``request_ttl``."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RateLimits:
        """``PIXIE_RATE_LIMIT_LOGIN_IP``, ``PIXIE_RATE_LIMIT_LOGIN_USER``, ``PIXIE_RATE_LIMIT_TOKEN_CLIENT``,
        ``PIXIE_RATE_LIMIT_TOKEN_IP``, ``PIXIE_RATE_LIMIT_AUTHORIZE_IP``, ``PIXIE_RATE_LIMIT_AUTHORIZE_PENDING_IP``,
        ``PIXIE_LOGIN_LOCKOUT_AFTER``; each falls back to the default."""
        base = cls()
        lockout = env.get("PIXIE_LOGIN_LOCKOUT_AFTER")
        if lockout is not None and not lockout.isdigit():
            raise ConfigError(f"PIXIE_LOGIN_LOCKOUT_AFTER must be a whole number, got {lockout!r}")
        return cls(
            login_failures_per_ip=env.get("PIXIE_RATE_LIMIT_LOGIN_IP", base.login_failures_per_ip),
            login_failures_per_user=env.get("PIXIE_RATE_LIMIT_LOGIN_USER", base.login_failures_per_user),
            lockout_after=int(lockout) if lockout else base.lockout_after,
            token_per_client=env.get("PIXIE_RATE_LIMIT_TOKEN_CLIENT", base.token_per_client),
            token_per_ip=env.get("PIXIE_RATE_LIMIT_TOKEN_IP", base.token_per_ip),
            authorize_per_ip=env.get("PIXIE_RATE_LIMIT_AUTHORIZE_IP", base.authorize_per_ip),
            authorize_pending_per_ip=env.get("PIXIE_RATE_LIMIT_AUTHORIZE_PENDING_IP", base.authorize_pending_per_ip),
        )


@dataclass(frozen=True)
class Settings:
    """What one Pixie instance needs to start.

    ``issuer`` is the base URL of the default tenant; other tenants live under ``{issuer}/t/{name}``.
    ``insecure_allow_http`` permits an ``http`` issuer on a non-loopback host (never do this in production: RFC 8414
    §2 requires https).
    """

    database_url: str = DEFAULT_DATABASE_URL
    issuer: str = "http://127.0.0.1:8000"
    master_key: bytes = b""
    insecure_allow_http: bool = False
    housekeeping_interval: float = 300.0
    """Seconds between purge and key-rotation rounds of a running server; 0 turns the background task off."""
    redis_url: str | None = None
    """Where rate-limit counters are shared across instances (``PIXIE_REDIS_URL``); ``None`` keeps them in memory."""
    rate_limits: RateLimits = field(default_factory=RateLimits)
    audit_log: str | None = None
    """Where the audit log goes: ``"stderr"``, a file path, or ``None`` for none (``PIXIE_AUDIT_LOG``; ``off``)."""
    metrics_labels: tuple[str, ...] = ()
    """Optional, bounded labels on flow metrics: ``tenant``, ``client`` (``PIXIE_METRICS_LABELS``)."""
    metrics_allow: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    """Networks that may read ``/metrics`` without credentials (``PIXIE_METRICS_ALLOW``, comma separated)."""
    metrics_basic_auth: str | None = None
    """``user:password`` that may read ``/metrics`` from anywhere (``PIXIE_METRICS_BASIC_AUTH``)."""
    webhook_backoff: float = 1.0
    """Seconds before the first webhook retry; each further retry waits twice as long."""
    events_retention_days: float = DEFAULT_EVENTS_RETENTION_DAYS
    """Days stored flow events are kept for the dashboard and ``pixie stats`` (``PIXIE_EVENTS_RETENTION_DAYS``; 0
    keeps them forever). Housekeeping deletes older ones."""
    events_enabled: bool = True
    """``PIXIE_EVENTS=off`` drops flow events (no analytics, audit log, webhooks or event metrics): only for
    measuring their cost."""
    forwarded_allow_ips: tuple[str, ...] = ()
    """Proxies whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed (``PIXIE_FORWARDED_ALLOW_IPS``,
    ``pixie serve --forwarded-allow-ips``): addresses and networks, or ``*`` for any peer. Empty, the default, trusts
    no one: the address a request came from is the peer's, so per-address limits cannot be dodged with a header."""

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        database_url: str | None = None,
        issuer: str | None = None,
        insecure_allow_http: bool = False,
    ) -> Settings:
        """Read ``PIXIE_DATABASE_URL``, ``PIXIE_ISSUER``, ``PIXIE_SECRET_KEY`` / ``PIXIE_SECRET_FILE``,
        ``PIXIE_REDIS_URL`` and the rate limits (:meth:`RateLimits.from_env`); explicit
        arguments win over the environment."""
        env = os.environ if env is None else env
        settings = cls(
            database_url=database_url or env.get("PIXIE_DATABASE_URL") or DEFAULT_DATABASE_URL,
            issuer=(issuer or env.get("PIXIE_ISSUER") or "http://127.0.0.1:8000").rstrip("/"),
            master_key=load_master_key(env),
            insecure_allow_http=insecure_allow_http,
            redis_url=env.get("PIXIE_REDIS_URL") or None,
            rate_limits=RateLimits.from_env(env),
            audit_log=_audit_target(env.get("PIXIE_AUDIT_LOG", "stderr")),
            metrics_labels=_csv(env.get("PIXIE_METRICS_LABELS", "")),
            metrics_allow=_csv(env.get("PIXIE_METRICS_ALLOW", "127.0.0.0/8,::1/128")),
            metrics_basic_auth=env.get("PIXIE_METRICS_BASIC_AUTH") or None,
            events_retention_days=_days(env.get("PIXIE_EVENTS_RETENTION_DAYS", str(DEFAULT_EVENTS_RETENTION_DAYS))),
            events_enabled=env.get("PIXIE_EVENTS", "on").strip().lower() not in ("off", "0", "false"),
            forwarded_allow_ips=parse_forwarded_allow_ips(
                env.get("PIXIE_FORWARDED_ALLOW_IPS", ""), "PIXIE_FORWARDED_ALLOW_IPS"
            ),
        )
        validate_issuer(settings.issuer, insecure_allow_http=insecure_allow_http)
        return settings


def parse_forwarded_allow_ips(value: str, source: str = "--forwarded-allow-ips") -> tuple[str, ...]:
    """The trusted proxies in ``value`` (comma separated addresses or CIDR networks, or ``*``), normalised; raises
    ``ConfigError`` naming ``source`` for anything else, so a typo is not silently a proxy nobody can be.

    Spec: RFC 7239 §8.1 (any node on the way, the client included, can write a forwarded address).
    """
    trusted: list[str] = []
    for part in _csv(value):
        if part == "*":
            trusted.append(part)
            continue
        try:
            trusted.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ConfigError(f"{source}: {part!r} is not an IP address or network (CIDR) or '*'") from None
    return tuple(trusted)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _days(value: str) -> float:
    try:
        days = float(value)
    except ValueError:
        raise ConfigError(f"PIXIE_EVENTS_RETENTION_DAYS={value!r} is not a number of days") from None
    if not days >= 0 or days == float("inf"):
        raise ConfigError(f"PIXIE_EVENTS_RETENTION_DAYS={value!r} must be 0 (keep forever) or a positive number")
    return days


def _audit_target(value: str) -> str | None:
    return None if value.strip().lower() in ("", "off", "none") else value.strip()


def validate_issuer(issuer: str, *, insecure_allow_http: bool = False) -> None:
    """An issuer is an https URL without query or fragment (RFC 8414 §2); http is allowed on loopback for
    development, and elsewhere only with the loudly named ``insecure_allow_http``."""
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"issuer {issuer!r} must be an absolute https URL")
    if parts.query or parts.fragment:
        raise ConfigError(f"issuer {issuer!r} must not have a query or fragment (RFC 8414 §2)")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        if not insecure_allow_http:
            raise ConfigError(f"issuer {issuer!r} uses http on a non-loopback host; use https")
        log.warning("insecure_allow_http is on: issuer %s is served over plain http", issuer)


def load_master_key(env: Mapping[str, str]) -> bytes:
    """The master key: ``PIXIE_SECRET_KEY`` (base64url of at least 32 bytes), else the file named by
    ``PIXIE_SECRET_FILE`` (default ``pixie.secret`` in the working directory), created with mode 0600 and a
    warning when missing."""
    raw = env.get("PIXIE_SECRET_KEY")
    if raw:
        return _decode_key(raw, "PIXIE_SECRET_KEY")
    path = Path(env.get("PIXIE_SECRET_FILE") or "pixie.secret")
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
        return _decode_key(path.read_text().strip(), str(path))
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.urlsafe_b64encode(key).decode("ascii") + "\n")
    log.warning("PIXIE_SECRET_KEY is not set: generated a master key into %s (mode 0600); keep it safe", path)
    return key


def _decode_key(raw: str, source: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (ValueError, TypeError):
        raise ConfigError(f"{source} is not base64url") from None
    if len(key) < 32:
        raise ConfigError(f"{source} must decode to at least 32 bytes, got {len(key)}")
    return key
