"""``pixie doctor``: a deployment's configuration checked against RFC 9700 (OAuth 2.0 Security Best Current
Practice) and Pixie's own hardening, as plain functions over a snapshot of it.

The edge (:mod:`pixie.cli.doctor`) gathers a :class:`Deployment` from the settings, the environment, the key file
and the database; :func:`examine` returns one :class:`Finding` per problem, each with its severity, the section it
rests on and the command that fixes it. ``error`` findings make the command exit 1: something an attacker can use
today. ``warning`` findings weaken a defence; ``info`` findings are worth knowing.

Registration (RFC 7591) and client metadata documents are checked too: an open endpoint without a per-address limit,
and the development setting that fetches documents from loopback. On PostgreSQL, so are the server settings Pixie's
guarantees rest on: durable commits (a code is redeemed once, a rotated refresh token stays spent) and autovacuum.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pixie.config import RateLimits
from pixie.storage.records import Client, SigningKey, Tenant
from pixie.types import KeyState

__all__ = ["Deployment", "Finding", "Severity", "examine"]

Severity = Literal["error", "warning", "info"]

ACCESS_TOKEN_TTL_WARN = 3600
"""Access tokens living longer than an hour: a stolen one is useful for that long (RFC 9700 §4.10)."""
REFRESH_IDLE_WARN = 30 * 86400
REFRESH_ABSOLUTE_WARN = 365 * 86400
KEY_OVERDUE_GRACE_DAYS = 7
"""How far past the tenant's rotation period an active key may be before it is reported (a server rotates it at its
next housekeeping run; only a deployment where none runs falls this far behind)."""
_LOOPBACK_HOSTS = ("127.0.0.1", "::1")
_OPEN_NETWORKS = ("0.0.0.0/0", "::/0")
POSTGRESQL_SETTINGS = ("autovacuum", "fsync", "full_page_writes", "synchronous_commit")
"""The PostgreSQL server settings the doctor reads (:attr:`Deployment.database_settings`)."""


@dataclass(frozen=True)
class Finding:
    check: str
    """A stable name of the check (``issuer-https``, ``redirect-uri``, ...), for scripts."""
    severity: Severity
    message: str
    reference: str
    """The section the finding rests on, e.g. ``RFC 9700 §4.13``."""
    fix: str
    """The command or setting that fixes it."""


@dataclass(frozen=True)
class Deployment:
    """What the doctor looks at: a configuration as a command sees it."""

    issuer: str
    database_kind: Literal["sqlite", "postgresql"]
    master_key_env: bool
    """The master key comes from ``PIXIE_SECRET_KEY``."""
    master_key_file: Path | None
    key_file_mode: int | None
    """The key file's permission bits, when it exists."""
    database_file: Path | None
    redis_url: str | None
    forwarded_allow_ips: tuple[str, ...]
    metrics_allow: tuple[str, ...]
    metrics_basic_auth: bool
    rate_limits: RateLimits
    tenant: Tenant
    clients: Sequence[Client]
    keys: Sequence[SigningKey]
    now: float
    notes: tuple[Finding, ...] = field(default=())
    """Findings the edge made while gathering (a setting that would not load)."""
    database_settings: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """On PostgreSQL, :data:`POSTGRESQL_SETTINGS` as a new connection sees them: name → (value, source)."""


def examine(deployment: Deployment) -> list[Finding]:
    """Every finding about ``deployment``, errors first. Spec: RFC 9700 §2, §4."""
    findings = [
        *deployment.notes,
        *_issuer(deployment),
        *_master_key(deployment),
        *_keys(deployment),
        *_lifetimes(deployment),
        *_clients(deployment),
        *_proxy(deployment),
        *_rate_limits(deployment),
        *_registration(deployment),
        *_metrics(deployment),
        *_postgresql(deployment),
    ]
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda finding: order[finding.severity])


def _is_https(uri: str) -> bool:
    return urlsplit(uri).scheme == "https"


def _issuer(d: Deployment) -> Iterable[Finding]:
    if _is_https(d.issuer):
        return
    fix = "pixie serve --issuer https://auth.example.com (or PIXIE_ISSUER)"
    yield Finding(
        "issuer-https",
        "error",
        f"the issuer {d.issuer} is not https: codes and tokens would cross the network in the clear (only fit for"
        " one's own machine)",
        "RFC 9700 §2.6, RFC 8414 §2",
        fix,
    )
    yield Finding(
        "cookies-secure",
        "warning",
        "sign-in, consent and dashboard cookies are neither Secure nor __Host- prefixed (they follow the issuer's"
        " scheme)",
        "RFC 9700 §4.7, RFC 6265bis §4.1.3.2",
        fix,
    )


def _master_key(d: Deployment) -> Iterable[Finding]:
    if d.master_key_env:
        return
    path = d.master_key_file
    if path is None:
        return
    if d.key_file_mode is not None and d.key_file_mode & 0o077:
        yield Finding(
            "master-key-file-mode",
            "error",
            f"the master key file {path} is readable by others (mode {d.key_file_mode & 0o777:o}): whoever reads it"
            " can open the signing keys and mint tokens",
            "RFC 9700 §4.10 (stolen keys make tokens), Pixie security",
            f"chmod 600 {path}",
        )
    if d.database_file is not None and path.parent.resolve() == d.database_file.parent.resolve():
        yield Finding(
            "master-key-beside-database",
            "info",
            f"the master key file {path} sits beside the database: keep it out of database backups (whoever holds"
            " both holds the signing keys)",
            "Pixie security",
            "back up the key file apart from the database, or set PIXIE_SECRET_KEY from a secret store",
        )


def _keys(d: Deployment) -> Iterable[Finding]:
    tenant = d.tenant.id
    active = [key for key in d.keys if key.state == KeyState.ACTIVE]
    if not active:
        yield Finding(
            "signing-key-active",
            "error",
            f"tenant {tenant!r} has no active signing key: it cannot issue tokens",
            "RFC 9068 §4",
            f"pixie keys rotate --tenant {tenant}",
        )
        return
    period = d.tenant.settings.key_rotation_days
    age_days = (d.now - (active[0].activated_at or active[0].created_at)) / 86400
    if age_days > period + KEY_OVERDUE_GRACE_DAYS:
        yield Finding(
            "signing-key-age",
            "warning",
            f"tenant {tenant!r}'s active signing key is {age_days:.0f} days old (rotation is due every {period}):"
            " no server has rotated it",
            "RFC 9700 §4.10, RFC 7517 §4.5",
            f"pixie keys rotate --tenant {tenant}",
        )
    if not any(key.state == KeyState.NEXT for key in d.keys):
        yield Finding(
            "signing-key-next",
            "warning",
            f"tenant {tenant!r} publishes no next signing key: the next rotation cannot be announced in advance",
            "RFC 7517 §4.5",
            f"pixie keys rotate --tenant {tenant}",
        )


def _lifetimes(d: Deployment) -> Iterable[Finding]:
    tenant = d.tenant
    settings = tenant.settings
    if settings.access_token_ttl > ACCESS_TOKEN_TTL_WARN:
        yield Finding(
            "access-token-lifetime",
            "warning",
            f"tenant {tenant.id!r} issues access tokens for {settings.access_token_ttl} s: a stolen token (or one of"
            " a disabled account, checked locally) works that long",
            "RFC 9700 §4.10",
            f"pixie tenants settings {tenant.id} --access-token-ttl 300",
        )
    if settings.refresh_idle_ttl > REFRESH_IDLE_WARN or settings.refresh_absolute_ttl > REFRESH_ABSOLUTE_WARN:
        yield Finding(
            "refresh-token-lifetime",
            "warning",
            f"tenant {tenant.id!r} keeps refresh tokens {settings.refresh_idle_ttl} s idle and"
            f" {settings.refresh_absolute_ttl} s in all: long-lived grants outlast the need for them",
            "RFC 9700 §4.14.2",
            f"pixie tenants settings {tenant.id} --refresh-idle-ttl 1209600 --refresh-absolute-ttl 7776000",
        )
    if settings.refresh_grace_seconds > 0:
        yield Finding(
            "refresh-grace-default",
            "warning",
            f"tenant {tenant.id!r} gives new clients a {settings.refresh_grace_seconds} s refresh grace window: a"
            " replayed refresh token inside it is answered instead of revoking the family",
            "RFC 9700 §4.14.2",
            f"pixie tenants settings {tenant.id} --refresh-grace 0",
        )
    for client in d.clients:
        if client.access_token_ttl is not None and client.access_token_ttl > ACCESS_TOKEN_TTL_WARN:
            yield Finding(
                "access-token-lifetime",
                "warning",
                f"client {client.client_id!r} gets access tokens for {client.access_token_ttl} s",
                "RFC 9700 §4.10",
                f"pixie clients update {client.client_id} --tenant {tenant.id} --access-token-ttl 300",
            )


def _registration(d: Deployment) -> Iterable[Finding]:
    """RFC 7591 §5: an open registration endpoint must not let one party fill the database; the loopback fetching of
    client metadata documents is for development only (it lets any client id make the server call itself)."""
    tenant = d.tenant
    settings = tenant.settings
    if settings.registration == "open":
        if not d.rate_limits.register_per_ip:
            yield Finding(
                "registration-rate-limit",
                "error",
                f"tenant {tenant.id!r} lets anyone register clients and PIXIE_RATE_LIMIT_REGISTER_IP is off: one"
                " address can register without bound",
                "RFC 7591 §5",
                "unset PIXIE_RATE_LIMIT_REGISTER_IP (20/hour), or pixie tenants settings"
                f" {tenant.id} --registration token",
            )
        else:
            yield Finding(
                "registration-open",
                "info",
                f"tenant {tenant.id!r} lets anyone register a public client (unused ones are removed after"
                f" {settings.registration_idle_days} days)",
                "RFC 7591 §3, §5",
                f"pixie tenants settings {tenant.id} --registration token",
            )
    if settings.client_metadata_documents and settings.insecure_client_metadata_loopback:
        yield Finding(
            "client-metadata-loopback",
            "error" if _is_https(d.issuer) else "warning",
            f"tenant {tenant.id!r} fetches client metadata documents from loopback addresses over http: any client"
            " id can make the server request its own host",
            "draft-ietf-oauth-client-id-metadata-document §6",
            f"pixie tenants settings {tenant.id} --no-insecure-client-metadata-loopback",
        )


def _loopback(host: str) -> bool:
    return host in _LOOPBACK_HOSTS


def _clients(d: Deployment) -> Iterable[Finding]:
    tenant = d.tenant.id
    for client in d.clients:
        if client.disabled:
            continue
        where = f"--tenant {tenant} " if tenant != "default" else ""
        for uri in client.redirect_uris:
            parts = urlsplit(uri)
            host = parts.hostname or ""
            if "*" in uri or "%2a" in uri.lower():
                yield Finding(
                    "redirect-uri-wildcard",
                    "error",
                    f"client {client.client_id!r} has a wildcard-like redirect URI {uri!r}: a code could be sent to"
                    " an address nobody registered",
                    "RFC 9700 §2.1, §4.1.3",
                    f"pixie clients update {client.client_id} {where}--redirect-uri https://app.example/callback",
                )
            elif parts.scheme == "http" and not _loopback(host):
                yield Finding(
                    "redirect-uri-http",
                    "error",
                    f"client {client.client_id!r} has a plain-http redirect URI {uri!r} on a host other than a loopback"
                    " address: codes would cross the network in the clear",
                    "RFC 9700 §2.6, §4.1.3",
                    f"pixie clients update {client.client_id} {where}--redirect-uri https://{host or 'app.example'}"
                    f"{parts.path or '/'}",
                )
        if client.refresh_grace_seconds > 0 and "refresh_token" in client.grant_types:
            yield Finding(
                "refresh-grace",
                "warning",
                f"client {client.client_id!r} has a {client.refresh_grace_seconds} s refresh grace window: a replayed"
                " refresh token inside it is answered instead of revoking the family",
                "RFC 9700 §4.14.2",
                f"pixie clients update {client.client_id} {where}--refresh-grace-seconds 0",
            )


def _proxy(d: Deployment) -> Iterable[Finding]:
    if "*" in d.forwarded_allow_ips:
        yield Finding(
            "proxy-trust",
            "warning",
            "X-Forwarded-For is believed from any peer: a client that reaches Pixie directly picks the address its"
            " rate limits count against",
            "RFC 9700 §4.13, RFC 7239 §8.1",
            "pixie serve --forwarded-allow-ips <your proxy's address or network> (or PIXIE_FORWARDED_ALLOW_IPS)",
        )
    elif not d.forwarded_allow_ips and _is_https(d.issuer):
        yield Finding(
            "proxy-trust",
            "info",
            "no proxy is trusted: if TLS ends at a reverse proxy, every request seems to come from it and all clients"
            " share one set of per-address limits",
            "RFC 9700 §4.13",
            "pixie serve --forwarded-allow-ips <your proxy's address or network> (or PIXIE_FORWARDED_ALLOW_IPS)",
        )


def _rate_limits(d: Deployment) -> Iterable[Finding]:
    limits = d.rate_limits
    off = [
        name
        for name, value in (
            ("PIXIE_RATE_LIMIT_LOGIN_IP", limits.login_failures_per_ip),
            ("PIXIE_RATE_LIMIT_LOGIN_USER", limits.login_failures_per_user),
            ("PIXIE_RATE_LIMIT_TOKEN_CLIENT", limits.token_per_client),
            ("PIXIE_RATE_LIMIT_TOKEN_IP", limits.token_per_ip),
        )
        if not value.strip()
    ]
    if off:
        yield Finding(
            "rate-limits-off",
            "error" if any("LOGIN" in name for name in off) else "warning",
            f"rate limits turned off: {', '.join(off)} (password and client-secret guessing go unchecked)",
            "RFC 6749 §10.10, OAuth 2.1 §7.1",
            "unset " + " ".join(off),
        )
    if d.database_kind == "postgresql" and not d.redis_url:
        yield Finding(
            "rate-limit-backend",
            "warning",
            "rate limits are counted in each instance's memory: with several instances on this PostgreSQL database,"
            " each one allows the full limit",
            "RFC 6749 §10.10",
            "PIXIE_REDIS_URL=redis://HOST:6379/0 on every instance",
        )


def _networks(values: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    found = []
    for value in values:
        try:
            found.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            continue
    return found


def _metrics(d: Deployment) -> Iterable[Finding]:
    public = [
        str(network)
        for network in _networks(d.metrics_allow)
        if network.num_addresses > 2**24 or str(network) in _OPEN_NETWORKS or network.is_global
    ]
    if public and not d.metrics_basic_auth:
        yield Finding(
            "metrics-exposure",
            "warning",
            f"/metrics answers {', '.join(public)} without a password: client ids, error rates and traffic are"
            " readable from there",
            "Pixie monitoring",
            "PIXIE_METRICS_ALLOW=127.0.0.1/32,<your Prometheus> or PIXIE_METRICS_BASIC_AUTH=user:password",
        )
    if d.metrics_basic_auth and not _is_https(d.issuer):
        yield Finding(
            "metrics-exposure",
            "warning",
            "/metrics takes a Basic password over plain http: anyone on the path reads it",
            "RFC 7617 §4",
            "serve Pixie over https (pixie serve --issuer https://...)",
        )


_TURNED_OFF: tuple[tuple[str, str, Severity, str, str, str], ...] = (
    # (setting, check, severity, message with {source}, reference, fix): each finding is the setting being "off".
    (
        "fsync",
        "postgresql-durability",
        "error",
        "PostgreSQL runs with fsync = off (set in: {source}): after an operating-system crash or a power loss the"
        " database can lose committed rows or be corrupt, and a redeemed authorization code or a rotated refresh"
        " token can be accepted again",
        "RFC 9700 §4.14.2, OAuth 2.1 §4.1.3",
        "ALTER SYSTEM SET fsync = on; SELECT pg_reload_conf();",
    ),
    (
        "synchronous_commit",
        "postgresql-durability",
        "warning",
        "PostgreSQL commits without waiting for the disk (synchronous_commit = off, set in: {source}): a crash loses"
        " the last commits, so a code redeemed or a refresh token rotated just before it can be used again",
        "RFC 9700 §4.14.2, OAuth 2.1 §4.1.3",
        "synchronous_commit = on where it was turned off (ALTER SYSTEM, ALTER DATABASE or ALTER ROLE ... RESET"
        " synchronous_commit)",
    ),
    (
        "full_page_writes",
        "postgresql-durability",
        "warning",
        "PostgreSQL runs with full_page_writes = off (set in: {source}): a crash during a page write can leave a torn"
        " page that recovery cannot repair",
        "PostgreSQL manual, full_page_writes",
        "ALTER SYSTEM SET full_page_writes = on; SELECT pg_reload_conf();",
    ),
    (
        "autovacuum",
        "postgresql-autovacuum",
        "warning",
        "PostgreSQL runs with autovacuum = off (set in: {source}): table statistics are never refreshed, so plans made"
        " while Pixie's tables were small (a refresh token's family check among them) read whole tables once they"
        " have grown, and the rows housekeeping deletes never give their space back",
        "PostgreSQL manual, routine vacuuming",
        "ALTER SYSTEM SET autovacuum = on; SELECT pg_reload_conf();  (or ANALYZE and VACUUM on a schedule)",
    ),
)


def _postgresql(d: Deployment) -> Iterable[Finding]:
    """A finding per setting of :data:`_TURNED_OFF` the server reports as ``off`` (``synchronous_commit`` has other
    values, ``local`` and ``remote_*``, that all wait for the local disk)."""
    for name, check, severity, message, reference, fix in _TURNED_OFF:
        value, source = d.database_settings.get(name, ("", ""))
        if value == "off":
            yield Finding(check, severity, message.format(source=source), reference, fix)
