"""The schema, as SQLAlchemy Core tables. ``migrations/versions`` must create exactly this (a test compares them).

Conventions: every table carries ``tenant_id`` and keys on it; timestamps are floats (seconds since the epoch,
double precision on PostgreSQL) so both backends compare them alike; tuples of strings are JSON arrays
(:class:`StrTuple`); column names equal the record field names of :mod:`pixie.storage.records`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "StrTuple",
    "admin_sessions",
    "authorization_codes",
    "authorization_requests",
    "clients",
    "consents",
    "dpop_proofs",
    "event_batches",
    "metadata",
    "pushed_requests",
    "refresh_families",
    "refresh_tokens",
    "registration_tokens",
    "resources",
    "revoked_access_tokens",
    "signing_keys",
    "sso_sessions",
    "tenants",
    "users",
]


class StrTuple(sa.types.TypeDecorator[tuple[str, ...]]):
    """A ``tuple[str, ...]`` stored as a JSON array (order kept)."""

    impl = sa.JSON
    cache_ok = True

    def process_bind_param(self, value: tuple[str, ...] | None, dialect: Dialect) -> list[str] | None:
        return None if value is None else list(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> tuple[str, ...] | None:
        return None if value is None else tuple(value)


# Deterministic constraint names on both backends, so migrations can refer to them.
metadata = sa.MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(referred_table_name)s",
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# Autoincrement: SQLite only aliases ROWID for a column declared exactly INTEGER PRIMARY KEY.
_EventId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(), primary_key=True)


def _time(name: str, *, nullable: bool = False) -> sa.Column[float]:
    return sa.Column(name, sa.Float(), nullable=nullable)


def _text(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable)


def _flag(name: str) -> sa.Column[bool]:
    return sa.Column(name, sa.Boolean(), nullable=False)


def _strings(name: str) -> sa.Column[tuple[str, ...]]:
    return sa.Column(name, StrTuple(), nullable=False)


tenants = sa.Table(
    "tenants",
    metadata,
    _tenant(),
    _text("display_name"),
    _time("created_at"),
    _flag("disabled"),
    sa.Column("settings", sa.JSON(), nullable=False),
)

clients = sa.Table(
    "clients",
    metadata,
    _tenant(),
    sa.Column("client_id", sa.String(), primary_key=True),
    _text("client_type"),
    _text("token_endpoint_auth_method"),
    _strings("redirect_uris"),
    _strings("grant_types"),
    _strings("scopes"),
    _time("created_at"),
    _text("secret_hash", nullable=True),
    _strings("audiences"),
    _text("name"),
    sa.Column("refresh_grace_seconds", sa.Integer(), nullable=False),
    sa.Column("access_token_ttl", sa.Integer(), nullable=True),
    sa.Column("refresh_idle_ttl", sa.Integer(), nullable=True),
    sa.Column("refresh_absolute_ttl", sa.Integer(), nullable=True),
    _flag("disabled"),
    _strings("post_logout_redirect_uris"),  # migration 0005
    _text("id_token_signed_response_alg", nullable=True),
    _flag("dpop_bound_access_tokens"),  # migration 0006
    _flag("require_pushed_authorization_requests"),
    _text("logo_uri", nullable=True),  # migration 0007
    _text("registration_access_token_hash", nullable=True),  # migration 0009
    _time("last_used_at", nullable=True),
    sa.Index(None, "registration_access_token_hash"),  # list_idle_registered: self-registered clients only
)

resources = sa.Table(  # migration 0008
    "resources",
    metadata,
    _tenant(),
    sa.Column("identifier", sa.String(), primary_key=True),  # an absolute URI (RFC 8707 §2)
    _text("name"),
    _strings("scopes"),
    _time("created_at"),
    sa.Column("access_token_ttl", sa.Integer(), nullable=True),
)

users = sa.Table(
    "users",
    metadata,
    _tenant(),
    sa.Column("user_id", sa.String(), primary_key=True),
    _text("username"),
    _text("password_hash"),
    _time("created_at"),
    _strings("roles"),
    _flag("disabled"),
    _text("name", nullable=True),  # profile columns: migration 0005
    _text("given_name", nullable=True),
    _text("family_name", nullable=True),
    _text("email", nullable=True),
    _flag("email_verified"),
    # Led by username (migration 0005): led by tenant_id, a never-analyzed PostgreSQL planned the join of a user by
    # its key as a scan of this index over the whole tenant once the table's rows widened.
    sa.UniqueConstraint("username", "tenant_id"),
)

sso_sessions = sa.Table(
    "sso_sessions",
    metadata,
    _tenant(),
    sa.Column("session_hash", sa.String(), primary_key=True),
    _text("user_id"),
    _time("auth_time"),
    _time("created_at"),
    _time("last_seen_at"),
    sa.Column("idle_ttl", sa.Integer(), nullable=False),
    _time("absolute_expires_at"),
    _time("revoked_at", nullable=True),
)

consents = sa.Table(
    "consents",
    metadata,
    _tenant(),
    sa.Column("user_id", sa.String(), primary_key=True),
    sa.Column("client_id", sa.String(), primary_key=True),
    _strings("scopes"),
    _time("granted_at"),
)

authorization_requests = sa.Table(
    "authorization_requests",
    metadata,
    _tenant(),
    sa.Column("request_id", sa.String(), primary_key=True),
    _text("client_id"),
    _text("redirect_uri"),
    _flag("redirect_uri_provided"),
    _strings("scopes"),
    _text("state", nullable=True),
    _text("code_challenge"),
    _text("code_challenge_method"),
    _strings("prompt"),
    _text("correlation_id"),
    _text("csrf_hash"),
    _time("created_at"),
    _time("expires_at"),
    _text("user_id", nullable=True),
    _time("auth_time", nullable=True),
    _text("nonce", nullable=True),  # OpenID Connect request parameters: migration 0005
    sa.Column("max_age", sa.Integer(), nullable=True),
    _text("login_hint", nullable=True),
    _text("dpop_jkt", nullable=True),  # migration 0006
    _text("response_mode", nullable=True),
    _strings("resources"),  # migration 0008
    sa.Index(None, "expires_at"),  # purge_expired, across tenants
)

authorization_codes = sa.Table(
    "authorization_codes",
    metadata,
    _tenant(),
    sa.Column("code_hash", sa.String(), primary_key=True),
    _text("client_id"),
    _text("user_id"),
    _text("redirect_uri"),
    _flag("redirect_uri_provided"),
    _strings("scopes"),
    _text("code_challenge"),
    _text("code_challenge_method"),
    _time("auth_time"),
    _text("correlation_id"),
    _time("created_at"),
    _time("expires_at"),
    _time("consumed_at", nullable=True),
    _text("family_id", nullable=True),
    _text("access_jti", nullable=True),
    _time("access_expires_at", nullable=True),
    _text("nonce", nullable=True),  # migration 0005
    _text("sid", nullable=True),
    _text("dpop_jkt", nullable=True),  # migration 0006
    _strings("resources"),  # migration 0008
    sa.Index(None, "family_id", "tenant_id"),  # revoke_family deny-lists the code's access token (migration 0003)
    sa.Index(None, "expires_at"),  # purge_expired
)

refresh_families = sa.Table(
    "refresh_families",
    metadata,
    _tenant(),
    sa.Column("family_id", sa.String(), primary_key=True),
    _text("client_id"),
    _text("user_id", nullable=True),
    _strings("scopes"),
    _time("auth_time", nullable=True),
    _time("created_at"),
    _time("absolute_expires_at"),
    _time("revoked_at", nullable=True),
    _text("revoked_reason", nullable=True),
    _text("dpop_jkt", nullable=True),  # the DPoP key public clients' refresh tokens are bound to (migration 0006)
    _text("sid", nullable=True),  # migration 0005
    _strings("resources"),  # migration 0008
    sa.Index(None, "sid", "tenant_id"),  # end_session: the families of one SSO session (led by sid, as 0003)
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    _tenant(),
    sa.Column("token_hash", sa.String(), primary_key=True),
    _text("family_id"),
    _strings("scopes"),
    _time("created_at"),
    _time("expires_at"),
    _text("access_jti", nullable=True),
    _time("access_expires_at", nullable=True),
    _time("used_at", nullable=True),
    _text("replaced_by_hash", nullable=True),
    sa.Column("retry_response", sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(
        ["tenant_id", "family_id"],
        ["refresh_families.tenant_id", "refresh_families.family_id"],
        ondelete="CASCADE",
    ),
    sa.Index(None, "family_id", "tenant_id"),  # revoke_family (led by family_id: see migration 0003)
)

revoked_access_tokens = sa.Table(
    "revoked_access_tokens",
    metadata,
    _tenant(),
    sa.Column("jti", sa.String(), primary_key=True),
    _time("expires_at"),
    sa.Index(None, "expires_at"),  # purge_expired
)

pushed_requests = sa.Table(
    "pushed_requests",
    metadata,
    _tenant(),
    sa.Column("uri_hash", sa.String(), primary_key=True),
    _text("client_id"),
    _text("parameters"),
    _time("created_at"),
    _time("expires_at"),
    sa.Index(None, "expires_at"),  # purge_expired
)

registration_tokens = sa.Table(
    "registration_tokens",
    metadata,
    _tenant(),
    sa.Column("token_id", sa.String(), primary_key=True),
    _text("token_hash"),
    _time("created_at"),
    _time("expires_at", nullable=True),
)
"""Initial access tokens for dynamic client registration (migration 0009)."""

dpop_proofs = sa.Table(
    "dpop_proofs",
    metadata,
    _tenant(),
    sa.Column("replay_key", sa.String(), primary_key=True),  # SHA-256 of the key's thumbprint and the proof's jti
    _time("expires_at"),
    sa.Index(None, "expires_at"),  # purge_expired
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    _tenant(),
    sa.Column("kid", sa.String(), primary_key=True),
    _text("alg"),
    _text("state"),
    sa.Column("private_key_encrypted", sa.LargeBinary(), nullable=False),
    sa.Column("public_jwk", sa.JSON(), nullable=False),
    _time("created_at"),
    _time("activated_at", nullable=True),
    _time("retired_at", nullable=True),
    _text("sealed_by", nullable=True),  # the master key's fingerprint (migration 0004)
)

admin_sessions = sa.Table(
    "admin_sessions",
    metadata,
    _tenant(),
    sa.Column("session_hash", sa.String(), primary_key=True),
    _text("user_id"),
    _time("created_at"),
    _time("expires_at"),
    _time("revoked_at", nullable=True),
    sa.Index(None, "expires_at"),  # purge_expired
)

event_batches = sa.Table(
    "event_batches",
    metadata,
    sa.Column("id", _EventId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(), nullable=False),
    _time("first_at"),
    _time("last_at"),
    sa.Column("size", sa.Integer(), nullable=False),
    sa.Column("events", sa.JSON(), nullable=False),  # see pixie.storage.statements.events
    sa.Index(None, "tenant_id", "last_at"),  # query: the batches of one tenant that overlap a time window
)
"""Flow events, a batch per row (:mod:`pixie.storage.statements.events`); the ``events`` view (migration 0002, not part
of this metadata: Alembic compares tables) shows one row per event."""

directory_changes = sa.Table(  # migration 0010, which also adds the triggers that write it
    "directory_changes",
    metadata,
    sa.Column("id", _EventId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(), nullable=False),
    _text("kind"),  # tenant, client or key
    _text("name"),  # the client's id; empty for a tenant or its keys
    _time("changed_at"),
    sa.Index(None, "changed_at"),  # purge
    sqlite_autoincrement=True,
)
"""A row per insert, update or delete of a tenant, client or signing key, written by triggers: what each server's
caches follow (:class:`pixie.storage.cache.DirectoryWatch`)."""
