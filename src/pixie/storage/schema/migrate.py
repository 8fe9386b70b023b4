"""Bring a database to the newest schema with the Alembic revisions shipped in ``migrations/``."""

from __future__ import annotations

from importlib.resources import files

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from pixie.storage.schema.engine import BEGIN_IMMEDIATE
from pixie.storage.schema.errors import translate_errors

__all__ = ["alembic_config", "migrate"]

# Arbitrary constant key for pg_advisory_xact_lock: "pixie" in ASCII.
_MIGRATION_LOCK_KEY = 0x706978_6965


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration built in code (no ``alembic.ini``), pointing at the packaged revisions."""
    config = Config()
    location = str(files("pixie.storage.schema").joinpath("migrations"))
    config.set_main_option("script_location", location.replace("%", "%%"))  # ConfigParser interpolation
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade the schema to the newest revision; a no-op when it is current.

    Runs in one transaction (both backends have transactional DDL), serialised against other processes doing the
    same: an advisory lock on PostgreSQL, the write lock (``BEGIN IMMEDIATE``) on SQLite.
    """
    with translate_errors():
        async with engine.connect() as connection:
            await connection.execution_options(**{BEGIN_IMMEDIATE: True})
            async with connection.begin():
                if connection.dialect.name == "postgresql":
                    await connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                    )
                await connection.run_sync(_upgrade)
