"""DPoP: proofs are remembered for their window, so that a replayed proof fails on every instance, and refresh
families record the key their tokens are bound to.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

``dpop_proofs`` holds one row per accepted proof (keyed by a digest of the client key's thumbprint and the proof's
``jti``) until the proof's window has passed; housekeeping deletes the rest. ``refresh_families.dpop_jkt`` is the
RFC 7638 thumbprint of the key a public client's refresh tokens are bound to (NULL: not bound).

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
    with op.batch_alter_table("refresh_families") as batch:
        batch.add_column(sa.Column("dpop_jkt", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refresh_families") as batch:
        batch.drop_column("dpop_jkt")
    op.drop_index("ix_dpop_proofs_expires_at", table_name="dpop_proofs")
    op.drop_table("dpop_proofs")
