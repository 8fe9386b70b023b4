"""Protected resources (RFC 8707 resource indicators): a tenant's APIs as records, and the resources each pending
authorization request, code and refresh-token family was granted for.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

``resources`` holds one row per protected resource of a tenant, keyed by its identifier (an absolute URI), with a
display name, the scopes it accepts (a JSON array) and an optional access-token lifetime. ``resources`` on
``authorization_requests``, ``authorization_codes`` and ``refresh_families`` is a JSON array of resource
identifiers; existing rows get ``[]`` (no resource named: tokens keep the client's audiences).

Written by hand and frozen, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GRANTED = ("authorization_requests", "authorization_codes", "refresh_families")


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("identifier", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("access_token_ttl", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "identifier", name="pk_resources"),
    )
    # The default fills existing rows and stays (as 0005's): removing it would make SQLite rebuild
    # refresh_families, and the rebuild's drop would cascade to refresh_tokens.
    for table in _GRANTED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("resources", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    for table in reversed(_GRANTED):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("resources")
    op.drop_table("resources")
