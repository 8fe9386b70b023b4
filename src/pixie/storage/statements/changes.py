"""The directory-change feed (migration 0010): read by each server's caches, purged by housekeeping."""

from __future__ import annotations

import builtins

from pixie.storage.records import DirectoryChange
from pixie.storage.statements.dialect import Statement
from pixie.storage.statements.driver import Driver
from pixie.types import Timestamp

__all__ = ["SqlDirectoryChanges"]

LATEST = Statement("SELECT COALESCE(MAX(id), 0) FROM directory_changes")
AFTER = Statement("SELECT id, tenant_id, kind, name FROM directory_changes WHERE id > :after ORDER BY id LIMIT :limit")
PURGE = Statement("DELETE FROM directory_changes WHERE changed_at < :before")


class SqlDirectoryChanges:
    def __init__(self, db: Driver) -> None:
        self._db = db

    async def latest(self) -> int:
        row = await self._db.fetch_one(LATEST, {})
        return int(row[0]) if row is not None else 0

    async def after(self, after: int, *, limit: int = 1000) -> builtins.list[DirectoryChange]:
        rows = await self._db.fetch_all(AFTER, {"after": after, "limit": limit})
        return [DirectoryChange(int(row[0]), row[1], row[2], row[3]) for row in rows]

    async def purge_before(self, before: Timestamp) -> int:
        return await self._db.execute(PURGE, {"before": before}, bulk=True)
