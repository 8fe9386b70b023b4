"""Dynamic client registration: initial access tokens, and what a self-registered client carries.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

``registration_tokens`` holds the initial access tokens of RFC 7591 §3 (SHA-256 hashes only). ``clients`` gains
``registration_access_token_hash`` (RFC 7592 §3; NULL for clients an administrator registered) and
``last_used_at`` (when the client last received tokens), so housekeeping can remove self-registered clients
nobody uses.

Written by hand and frozen, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("registration_access_token_hash", sa.String(), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.Float(), nullable=True))
        batch.create_index("ix_clients_registration_access_token_hash", ["registration_access_token_hash"])
    op.create_table(
        "registration_tokens",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("token_id", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "token_id", name="pk_registration_tokens"),
    )


def downgrade() -> None:
    op.drop_table("registration_tokens")
    with op.batch_alter_table("clients") as batch:
        batch.drop_index("ix_clients_registration_access_token_hash")
        batch.drop_column("last_used_at")
        batch.drop_column("registration_access_token_hash")
