"""A feed of directory changes, written by triggers, so every instance's caches follow tenants, clients and keys.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Each server caches tenants, clients and signing keys. Until now a change made elsewhere (another instance, the CLI)
reached a cache only when its entry expired after 5-30 s, which also meant that a server with many tenants read
them again and again. ``directory_changes`` gets a row for every insert, update and delete of a tenant, client or
signing key, written by a trigger in the same transaction as the change, whoever makes it (the server, the CLI,
SQL by hand). Servers read the rows added since their last look (:class:`pixie.storage.cache.DirectoryWatch`) and
drop just those entries. Rows older than an hour are purged by housekeeping.

``id`` only grows: SQLite's ``AUTOINCREMENT`` never hands out an id again, even after the highest rows are
deleted, and PostgreSQL's identity is a sequence.

Written by hand and frozen, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, kind recorded, column that names the changed record within its tenant, or None)
_WATCHED = (("tenants", "tenant", None), ("clients", "client", "client_id"), ("signing_keys", "key", None))

_PG_FUNCTION = """
CREATE FUNCTION pixie_directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN changed := to_jsonb(OLD); ELSE changed := to_jsonb(NEW); END IF;
    INSERT INTO directory_changes (tenant_id, kind, name, changed_at)
    VALUES (changed ->> 'tenant_id', TG_ARGV[0], COALESCE(changed ->> TG_ARGV[1], ''),
            extract(epoch FROM clock_timestamp()));
    RETURN NULL;
END
$$
"""

# SQLite has no clock with sub-second precision before 3.42's unixepoch('subsec'); julianday has it everywhere.
_SQLITE_NOW = "(julianday('now') - 2440587.5) * 86400.0"


def upgrade() -> None:
    op.create_table(
        "directory_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("changed_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_directory_changes"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_directory_changes_changed_at", "directory_changes", ["changed_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for table, kind, name in _WATCHED:
            op.execute(
                f"CREATE TRIGGER directory_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION pixie_directory_changed('{kind}', '{name or '-'}')"
            )
        return
    for table, kind, name in _WATCHED:
        for operation, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            named = f"{row}.{name}" if name else "''"
            op.execute(  # names and kinds come from _WATCHED above, never input
                f"CREATE TRIGGER directory_{table}_{operation.lower()} AFTER {operation} ON {table} BEGIN "  # noqa: S608
                "INSERT INTO directory_changes (tenant_id, kind, name, changed_at) "
                f"VALUES ({row}.tenant_id, '{kind}', {named}, {_SQLITE_NOW}); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, _, _ in _WATCHED:
            op.execute(f"DROP TRIGGER directory_{table} ON {table}")
        op.execute("DROP FUNCTION pixie_directory_changed()")
    else:
        for table, _, _ in _WATCHED:
            for operation in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER directory_{table}_{operation}")
    op.drop_index("ix_directory_changes_changed_at", table_name="directory_changes")
    op.drop_table("directory_changes")
