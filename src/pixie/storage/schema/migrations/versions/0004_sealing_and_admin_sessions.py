"""Signing keys record which master key sealed them; the dashboard's administrator sessions are kept server-side.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

``signing_keys.sealed_by`` is the fingerprint of the master key that encrypted ``private_key_encrypted``, so that a
command run with another master key is refused with a clear message instead of a server that cannot sign. Keys
stored before this revision have none (NULL) until a command that can unseal them records it.

``admin_sessions`` holds the dashboard's sessions (before, a sealed cookie was the whole session and outlived a
logout or a disabled administrator).

Written by hand and frozen, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(sa.Column("sealed_by", sa.String(), nullable=True))
    op.create_table(
        "admin_sessions",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("session_hash", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "session_hash", name="pk_admin_sessions"),
    )
    op.create_index("ix_admin_sessions_expires_at", "admin_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_admin_sessions_expires_at", table_name="admin_sessions")
    op.drop_table("admin_sessions")
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("sealed_by")
