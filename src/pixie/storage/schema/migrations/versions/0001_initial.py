"""Initial schema: the twelve tables of pixie.storage.schema.tables.

Revision ID: 0001
Revises:
Create Date: 2026-05-09

Written by hand and frozen: it spells out plain types (JSON, not the application's StrTuple) so that later changes
to tables.py never rewrite history.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(), nullable=False)


def _key(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=False)


def _time(name: str, *, nullable: bool = False) -> sa.Column[float]:
    return sa.Column(name, sa.Float(), nullable=nullable)


def _text(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable)


def _flag(name: str) -> sa.Column[bool]:
    return sa.Column(name, sa.Boolean(), nullable=False)


def _json(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.JSON(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "tenants",
        _tenant(),
        _text("display_name"),
        _time("created_at"),
        _flag("disabled"),
        _json("settings"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_tenants"),
    )
    op.create_table(
        "clients",
        _tenant(),
        _key("client_id"),
        _text("client_type"),
        _text("token_endpoint_auth_method"),
        _json("redirect_uris"),
        _json("grant_types"),
        _json("scopes"),
        _time("created_at"),
        _text("secret_hash", nullable=True),
        _json("audiences"),
        _text("name"),
        sa.Column("refresh_grace_seconds", sa.Integer(), nullable=False),
        sa.Column("access_token_ttl", sa.Integer(), nullable=True),
        sa.Column("refresh_idle_ttl", sa.Integer(), nullable=True),
        sa.Column("refresh_absolute_ttl", sa.Integer(), nullable=True),
        _flag("disabled"),
        sa.PrimaryKeyConstraint("tenant_id", "client_id", name="pk_clients"),
    )
    op.create_table(
        "users",
        _tenant(),
        _key("user_id"),
        _text("username"),
        _text("password_hash"),
        _time("created_at"),
        _json("roles"),
        _flag("disabled"),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", name="pk_users"),
        sa.UniqueConstraint("tenant_id", "username", name="uq_users_tenant_id_username"),
    )
    op.create_table(
        "sso_sessions",
        _tenant(),
        _key("session_hash"),
        _text("user_id"),
        _time("auth_time"),
        _time("created_at"),
        _time("last_seen_at"),
        sa.Column("idle_ttl", sa.Integer(), nullable=False),
        _time("absolute_expires_at"),
        _time("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "session_hash", name="pk_sso_sessions"),
    )
    op.create_table(
        "consents",
        _tenant(),
        _key("user_id"),
        _key("client_id"),
        _json("scopes"),
        _time("granted_at"),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", "client_id", name="pk_consents"),
    )
    op.create_table(
        "authorization_requests",
        _tenant(),
        _key("request_id"),
        _text("client_id"),
        _text("redirect_uri"),
        _flag("redirect_uri_provided"),
        _json("scopes"),
        _text("state", nullable=True),
        _text("code_challenge"),
        _text("code_challenge_method"),
        _json("prompt"),
        _text("correlation_id"),
        _text("csrf_hash"),
        _time("created_at"),
        _time("expires_at"),
        _text("user_id", nullable=True),
        _time("auth_time", nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "request_id", name="pk_authorization_requests"),
    )
    op.create_index("ix_authorization_requests_expires_at", "authorization_requests", ["expires_at"])
    op.create_table(
        "authorization_codes",
        _tenant(),
        _key("code_hash"),
        _text("client_id"),
        _text("user_id"),
        _text("redirect_uri"),
        _flag("redirect_uri_provided"),
        _json("scopes"),
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
        sa.PrimaryKeyConstraint("tenant_id", "code_hash", name="pk_authorization_codes"),
    )
    op.create_index("ix_authorization_codes_tenant_id_family_id", "authorization_codes", ["tenant_id", "family_id"])
    op.create_index("ix_authorization_codes_expires_at", "authorization_codes", ["expires_at"])
    op.create_table(
        "refresh_families",
        _tenant(),
        _key("family_id"),
        _text("client_id"),
        _text("user_id", nullable=True),
        _json("scopes"),
        _time("auth_time", nullable=True),
        _time("created_at"),
        _time("absolute_expires_at"),
        _time("revoked_at", nullable=True),
        _text("revoked_reason", nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "family_id", name="pk_refresh_families"),
    )
    op.create_table(
        "refresh_tokens",
        _tenant(),
        _key("token_hash"),
        _text("family_id"),
        _json("scopes"),
        _time("created_at"),
        _time("expires_at"),
        _text("access_jti", nullable=True),
        _time("access_expires_at", nullable=True),
        _time("used_at", nullable=True),
        _text("replaced_by_hash", nullable=True),
        sa.Column("retry_response", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "token_hash", name="pk_refresh_tokens"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "family_id"],
            ["refresh_families.tenant_id", "refresh_families.family_id"],
            name="fk_refresh_tokens_refresh_families",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_refresh_tokens_tenant_id_family_id", "refresh_tokens", ["tenant_id", "family_id"])
    op.create_table(
        "revoked_access_tokens",
        _tenant(),
        _key("jti"),
        _time("expires_at"),
        sa.PrimaryKeyConstraint("tenant_id", "jti", name="pk_revoked_access_tokens"),
    )
    op.create_index("ix_revoked_access_tokens_expires_at", "revoked_access_tokens", ["expires_at"])
    op.create_table(
        "signing_keys",
        _tenant(),
        _key("kid"),
        _text("alg"),
        _text("state"),
        sa.Column("private_key_encrypted", sa.LargeBinary(), nullable=False),
        _json("public_jwk"),
        _time("created_at"),
        _time("activated_at", nullable=True),
        _time("retired_at", nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "kid", name="pk_signing_keys"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        _tenant(),
        _text("kind"),
        _text("outcome"),
        _time("created_at"),
        _text("client_id", nullable=True),
        _text("error", nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        _text("correlation_id", nullable=True),
        _json("detail"),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_tenant_id_created_at", "events", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("signing_keys")
    op.drop_table("revoked_access_tokens")
    op.drop_table("refresh_tokens")
    op.drop_table("refresh_families")
    op.drop_table("authorization_codes")
    op.drop_table("authorization_requests")
    op.drop_table("consents")
    op.drop_table("sso_sessions")
    op.drop_table("users")
    op.drop_table("clients")
    op.drop_table("tenants")
