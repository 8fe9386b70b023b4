"""Signing keys of each tenant's key ring (lean SQLite backend; semantics of :mod:`pixie.storage.sql.keys`)."""

from __future__ import annotations

import builtins
import sqlite3

from pixie.storage.records import SigningKey
from pixie.storage.sqlite.codec import RecordCodec
from pixie.storage.sqlite.database import Database
from pixie.types import KeyState, TenantId, Timestamp

__all__ = ["SqliteKeyStore"]

_key = RecordCodec(SigningKey, "signing_keys")

_LIST = _key.select("tenant_id = ?", order_by="created_at, kid")
_GET_STATE = "SELECT state, retired_at FROM signing_keys WHERE tenant_id = ? AND kid = ?"
_ACTIVATE = "UPDATE signing_keys SET state = ?, activated_at = ?, retired_at = NULL WHERE tenant_id = ? AND kid = ?"
_RETIRE = "UPDATE signing_keys SET state = ?, retired_at = ? WHERE tenant_id = ? AND kid = ?"
_SET_STATE = "UPDATE signing_keys SET state = ? WHERE tenant_id = ? AND kid = ?"


class SqliteKeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, key: SigningKey) -> None:
        values = _key.encode(key)
        await self._db.write(lambda c: c.execute(_key.insert, values))

    async def set_state(
        self, tenant_id: TenantId, kid: str, state: KeyState, now: Timestamp, *, expected: KeyState | None = None
    ) -> bool:
        """Change the state; False when no such key, or when ``expected`` is given and the key is in another state
        (read and update in one ``BEGIN IMMEDIATE`` transaction, so of two instances promoting the same ``next``
        key only one succeeds).

        ``activated_at`` is set to ``now`` when the key becomes active (from another state; re-activating clears
        ``retired_at``). ``retired_at`` records when the key *stopped signing*: it is set on the first move to
        ``retiring`` or ``retired`` and kept afterwards.
        """

        def change(connection: sqlite3.Connection) -> bool:
            row = connection.execute(_GET_STATE, (tenant_id, kid)).fetchone()
            if row is None or (expected is not None and row[0] != expected.value):
                return False
            current, retired_at = row
            if state is KeyState.ACTIVE and current != KeyState.ACTIVE.value:
                connection.execute(_ACTIVATE, (state.value, now, tenant_id, kid))
            elif state in (KeyState.RETIRING, KeyState.RETIRED) and retired_at is None:
                connection.execute(_RETIRE, (state.value, now, tenant_id, kid))
            else:
                connection.execute(_SET_STATE, (state.value, tenant_id, kid))
            return True

        return await self._db.write(change)

    async def list(self, tenant_id: TenantId) -> builtins.list[SigningKey]:
        """Oldest first (``created_at``, then ``kid``)."""
        rows = await self._db.read(lambda c: c.execute(_LIST, (tenant_id,)).fetchall())
        return [_key.decode(row) for row in rows]
