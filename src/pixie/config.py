"""Settings for one Pixie instance, and the master key that encrypts signing keys and webhook secrets at rest.

Settings are a value passed down from the composition root (no module-level globals), so tests and tenants can
differ inside one process.

The master key comes from ``PIXIE_SECRET_KEY``, else from a file: ``--secret-file`` / ``PIXIE_SECRET_FILE``, else,
for a SQLite database, the file beside it (``pixie.db`` → ``pixie.secret``), so that every command that opens a
database finds the same key wherever it runs. The database records the fingerprint of the key that sealed its keys
(:func:`pixie.security.key_fingerprint`); a command given another key stops with :class:`MasterKeyMismatch`.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import logging
import os
import secrets
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_EVENTS_RETENTION_DAYS",
    "MASTER_KEY_ENV",
    "MASTER_KEY_FILE_ENV",
    "ConfigError",
    "MasterKeyMismatch",
    "MasterKeySource",
    "RateLimits",
    "Settings",
    "decode_key",
    "encode_key",
    "key_file_beside",
    "load_master_key",
    "masked_url",
    "parse_forwarded_allow_ips",
    "read_key_file",
    "retired_key_file",
    "staged_key_file",
    "sync_directory",
    "validate_issuer",
    "write_key_file",
]

DEFAULT_DATABASE_URL = "sqlite:///pixie.db"
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

log = logging.getLogger("pixie.config")


DEFAULT_EVENTS_RETENTION_DAYS = 30.0
"""Days flow events are kept unless ``PIXIE_EVENTS_RETENTION_DAYS`` says otherwise (server and ``pixie db purge``)."""


class ConfigError(ValueError):
    """A setting that cannot work. The message is one line, fit for the command line."""


MASTER_KEY_ENV = "PIXIE_SECRET_KEY"
MASTER_KEY_FILE_ENV = "PIXIE_SECRET_FILE"


class MasterKeyMismatch(Exception):
    """The master key cannot open what the database holds sealed. Commands stop with this one line (exit 1) instead
    of starting a server whose every token request would fail."""


@dataclass(frozen=True)
class MasterKeySource:
    """Where the master key came from: the environment variable, or a file (never the key itself). Error messages
    name it, and ``pixie secret rotate`` writes the new key back to the same place.

    ``pending`` marks a file that does not exist yet: a fresh key was generated for it, and the composition root
    writes it (:func:`write_key_file`) only once it has seen that the database holds no keys sealed by another.
    """

    env_var: str | None = None
    path: Path | None = None
    pending: bool = False

    def __str__(self) -> str:
        if self.env_var is not None:
            return self.env_var
        if self.path is not None:
            return f"the file {self.path}"
        return "the settings"


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
    register_per_ip: str = "20/hour"
    """Dynamic client registrations (``POST /register``) from one address, across tenants: what one address can add
    to the database through an open registration endpoint."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RateLimits:
        """``PIXIE_RATE_LIMIT_LOGIN_IP``, ``PIXIE_RATE_LIMIT_LOGIN_USER``, ``PIXIE_RATE_LIMIT_TOKEN_CLIENT``,
        ``PIXIE_RATE_LIMIT_TOKEN_IP``, ``PIXIE_RATE_LIMIT_AUTHORIZE_IP``, ``PIXIE_RATE_LIMIT_AUTHORIZE_PENDING_IP``,
        ``PIXIE_RATE_LIMIT_REGISTER_IP``, ``PIXIE_LOGIN_LOCKOUT_AFTER``; each falls back to the default."""
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
            register_per_ip=env.get("PIXIE_RATE_LIMIT_REGISTER_IP", base.register_per_ip),
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
    master_key: bytes = field(default=b"", repr=False)  # never in a log line or a traceback's locals
    master_key_source: MasterKeySource = field(default_factory=MasterKeySource)
    """Where ``master_key`` came from (:func:`load_master_key`); messages name it, never the key."""
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
        secret_file: str | Path | None = None,
        database_file: Callable[[str], Path | None] | None = None,
    ) -> Settings:
        """Read ``PIXIE_DATABASE_URL``, ``PIXIE_ISSUER``, the master key (:func:`load_master_key`),
        ``PIXIE_REDIS_URL`` and the rate limits (:meth:`RateLimits.from_env`); explicit
        arguments win over the environment.

        ``database_file`` maps a database URL to its file (``pixie.storage.schema.sqlite_file``; the edge passes it
        in, as this layer parses no database URLs): a SQLite database keeps its master key beside that file.
        """
        env = os.environ if env is None else env
        url = database_url or env.get("PIXIE_DATABASE_URL") or DEFAULT_DATABASE_URL
        master_key, source = load_master_key(
            env, secret_file=secret_file, database_file=database_file(url) if database_file is not None else None
        )
        settings = cls(
            database_url=url,
            issuer=(issuer or env.get("PIXIE_ISSUER") or "http://127.0.0.1:8000").rstrip("/"),
            master_key=master_key,
            master_key_source=source,
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

    def reread_pending_key(self) -> Settings:
        """These settings, with the key of a pending key file (see :class:`MasterKeySource`) read again: when the
        file has been written since, by another app or process opening the same new database, its key replaces
        the one generated here, which nothing has used yet."""
        source = self.master_key_source
        if not source.pending or source.path is None:
            return self
        key = read_key_file(source.path)
        if key is None:
            return self
        return dataclasses.replace(self, master_key=key, master_key_source=MasterKeySource(path=source.path))


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


def masked_url(url: str) -> str:
    """``url`` as the user wrote it, with any password replaced by ``***`` (for messages and logs)."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    authority, slash, tail = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}{slash}{tail}"


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


def key_file_beside(database: Path) -> Path:
    """Where a SQLite database keeps its master key when none is configured: the same name with the suffix
    ``.secret`` (``/data/pixie.db`` → ``/data/pixie.secret``), so the key follows the database whatever the
    working directory of the command that opens it."""
    beside = database.with_suffix(".secret")
    return beside if beside != database else database.with_name(database.name + ".secret")


def load_master_key(
    env: Mapping[str, str], *, secret_file: str | Path | None = None, database_file: Path | None = None
) -> tuple[bytes, MasterKeySource]:
    """The master key and where it came from, in this order: ``PIXIE_SECRET_KEY`` (base64url of at least 32
    bytes); the file ``secret_file`` (``--secret-file``) or ``PIXIE_SECRET_FILE``; for a SQLite database, the file
    beside it (:func:`key_file_beside` of ``database_file``). A configured file that does not exist yet gets a fresh
    key, marked ``pending`` (see :class:`MasterKeySource`); nothing is written here. A key file readable by others
    is refused, and so is a database with no place for a key (PostgreSQL without either setting)."""
    raw = env.get(MASTER_KEY_ENV)
    if raw:
        return decode_key(raw, MASTER_KEY_ENV), MasterKeySource(env_var=MASTER_KEY_ENV)
    named = secret_file or env.get(MASTER_KEY_FILE_ENV)
    if named:
        path = Path(named)
    elif database_file is not None:
        path = key_file_beside(database_file)
    else:
        raise ConfigError(
            f"no master key: set {MASTER_KEY_ENV} or pass --secret-file PATH ({MASTER_KEY_FILE_ENV});"
            " only a SQLite database keeps one in a file beside it"
        )
    path = path.absolute()
    key = read_key_file(path)
    if key is None:
        return secrets.token_bytes(32), MasterKeySource(path=path, pending=True)
    return key, MasterKeySource(path=path)


def staged_key_file(path: Path) -> Path:
    """Where ``pixie secret rotate`` keeps the new master key (``pixie.secret.new``) until the database is re-sealed
    under it; then it replaces ``path``."""
    return path.with_name(path.name + ".new")


def retired_key_file(path: Path) -> Path:
    """Where ``pixie secret rotate`` keeps the master key it replaced (``pixie.secret.old``): only a backup of the
    database taken before the rotation needs it."""
    return path.with_name(path.name + ".old")


def read_key_file(path: Path) -> bytes | None:
    """The key in ``path``, or None when there is no such file. Refuses a file that others may read."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read the master key file {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd) as handle:
        mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
        if mode & 0o077:
            raise ConfigError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
        return decode_key(handle.read().strip(), str(path))


def encode_key(key: bytes) -> str:
    """The text form of a master key (base64url), as ``PIXIE_SECRET_KEY`` and key files hold it."""
    return base64.urlsafe_b64encode(key).decode("ascii")


def write_key_file(path: Path, key: bytes) -> None:
    """Create ``path`` holding ``key``, mode 0600 from the first byte, and flush it and its directory entry to disk
    before returning (what it seals must never reach the disk before the key does). Raises
    :class:`FileExistsError` rather than replace a file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(encode_key(key) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    """Flush a directory's entries (a created or renamed file) to disk, where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some platforms and file systems cannot fsync a directory
        pass
    finally:
        os.close(fd)


def decode_key(raw: str, source: str) -> bytes:
    """A master key from its text form; ``source`` names where it came from in the error."""
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (ValueError, TypeError):
        raise ConfigError(f"{source} is not base64url") from None
    if len(key) < 32:
        raise ConfigError(f"{source} must decode to at least 32 bytes, got {len(key)}")
    return key
