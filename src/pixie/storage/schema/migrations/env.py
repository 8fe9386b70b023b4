"""Alembic environment: runs on the connection that :func:`pixie.storage.schema.migrate` passes in.

There is no ``alembic.ini``: ``migrate`` builds the configuration in code. New revisions are hand-written next to
``versions/0001_initial.py``; ``tests/storage/test_migrations.py`` checks that the head matches ``tables.metadata``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from pixie.storage.schema.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead (for future revisions).
        render_as_batch=connection.dialect.name == "sqlite",
    )
    # migrate() already opened the transaction; Alembic joins it instead of committing on its own.
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError("Pixie's migrations run through pixie.storage.schema.migrate(engine), not the alembic CLI")
_run(_connection)
