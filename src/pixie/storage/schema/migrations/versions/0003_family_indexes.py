"""The family indexes lead with ``family_id``: no secondary index shares the primary keys' leading ``tenant_id``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

On a PostgreSQL database whose tables had not been analyzed yet (every new one), generic plans of the code and
refresh-token lookups chose ``(tenant_id, family_id)`` over the primary key ``(tenant_id, code_hash)`` or
``(tenant_id, token_hash)``: an equal estimate for the leading ``tenant_id``, after which each lookup read every row
of the tenant. The asyncpg backend keeps its prepared statements, and PostgreSQL keeps their plan until the table is
next analyzed, so the cost grew with the table until autovacuum first analyzed it (a minute or more on a new
database; for the whole of a benchmark run). Led by ``family_id``, the index still serves ``revoke_family``
(``tenant_id = ? AND family_id = ?``) and can no longer stand in for a key lookup
(``tests/storage/test_pg_plans.py``).

``CREATE INDEX`` holds off writes to the table while it runs (seconds per million rows); the old index serves
reads until it is dropped, in the same transaction.

Written by hand and frozen, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("authorization_codes", "refresh_tokens")


def upgrade() -> None:
    for table in _TABLES:
        op.create_index(f"ix_{table}_family_id_tenant_id", table, ["family_id", "tenant_id"])
        op.drop_index(f"ix_{table}_tenant_id_family_id", table_name=table)


def downgrade() -> None:
    for table in _TABLES:
        op.create_index(f"ix_{table}_tenant_id_family_id", table, ["tenant_id", "family_id"])
        op.drop_index(f"ix_{table}_family_id_tenant_id", table_name=table)
