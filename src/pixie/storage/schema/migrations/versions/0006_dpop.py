"""DPoP and pushed authorization requests: proofs are remembered for their window, so that a replayed proof fails
on every instance; refresh families, pending requests and codes record the key they are bound to; pushed requests
wait for their ``request_uri``; clients may require DPoP and PAR.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

``dpop_proofs`` holds one row per accepted proof (keyed by a digest of the client key's thumbprint and the proof's
``jti``) until the proof's window has passed; housekeeping deletes the rest. ``refresh_families.dpop_jkt`` is the
RFC 7638 thumbprint of the key a public client's refresh tokens are bound to (NULL: not bound); the same column
on ``authorization_requests`` and ``authorization_codes`` holds the request's ``dpop_jkt`` (RFC 9449 §10).
``pushed_requests`` holds each pushed request (RFC 9126) by the digest of its ``request_uri`` until it is used or
expires. ``clients.dpop_bound_access_tokens`` and ``clients.require_pushed_authorization_requests`` are false for
existing clients.

Written by hand and frozen, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dpop_proofs",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("replay_key", sa.String(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "replay_key", name="pk_dpop_proofs"),
    )
    op.create_index("ix_dpop_proofs_expires_at", "dpop_proofs", ["expires_at"])
    for table in ("refresh_families", "authorization_requests", "authorization_codes"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("dpop_jkt", sa.String(), nullable=True))
    with op.batch_alter_table("clients") as batch:
        for flag in ("dpop_bound_access_tokens", "require_pushed_authorization_requests"):
            batch.add_column(sa.Column(flag, sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("clients") as batch:  # the default fills existing rows; the schema declares none
        for flag in ("dpop_bound_access_tokens", "require_pushed_authorization_requests"):
            batch.alter_column(flag, server_default=None)
    op.create_table(
        "pushed_requests",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("uri_hash", sa.String(), nullable=False),
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("parameters", sa.String(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "uri_hash", name="pk_pushed_requests"),
    )
    op.create_index("ix_pushed_requests_expires_at", "pushed_requests", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_pushed_requests_expires_at", table_name="pushed_requests")
    op.drop_table("pushed_requests")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("require_pushed_authorization_requests")
        batch.drop_column("dpop_bound_access_tokens")
    for table in ("authorization_codes", "authorization_requests", "refresh_families"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("dpop_jkt")
    op.drop_index("ix_dpop_proofs_expires_at", table_name="dpop_proofs")
    op.drop_table("dpop_proofs")
