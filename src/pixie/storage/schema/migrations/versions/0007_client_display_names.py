"""Clients may carry a logo, shown beside their name on the sign-in and consent pages.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

``clients.logo_uri`` is an https URL (RFC 7591 §2 ``logo_uri``), or NULL for none. Clients already had a ``name``.

Written by hand and frozen, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("logo_uri", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("logo_uri")
