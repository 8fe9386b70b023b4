"""Signing keys of each tenant's key ring (PostgreSQL backend; semantics of :mod:`pixie.storage.sql.keys`)."""

from __future__ import annotations

import builtins

from pixie.storage.pg.codec import RecordCodec
from pixie.storage.pg.database import Database
from pixie.storage.records import SigningKey
from pixie.types import KeyState, TenantId, Timestamp

__all__ = ["PgKeyStore"]

_key = RecordCodec(SigningKey, "signing_keys")

_LIST = _key.select("tenant_id = $1", order_by="created_at, kid")
_ACTIVE = KeyState.ACTIVE.value
_STOPPED = (KeyState.RETIRING.value, KeyState.RETIRED.value)
# One conditional UPDATE: the row lock serialises concurrent rotations, and the state test in the WHERE clause is
# re-checked on the newest row version, so of two instances promoting the same key only one succeeds. The CASE
# arms read the row as it was (the state being left). State names are constants from code, never input.
_SET_STATE = (
    "UPDATE signing_keys SET state = $3::varchar, "  # noqa: S608
    f"activated_at = CASE WHEN $3::varchar = '{_ACTIVE}' AND state <> '{_ACTIVE}' THEN $4 ELSE activated_at END, "
    "retired_at = CASE "
    f"WHEN $3::varchar = '{_ACTIVE}' AND state <> '{_ACTIVE}' THEN NULL "
    f"WHEN $3::varchar IN ('{_STOPPED[0]}', '{_STOPPED[1]}') AND retired_at IS NULL THEN $4 "
    "ELSE retired_at END "
    "WHERE tenant_id = $1 AND kid = $2 AND ($5::varchar IS NULL OR state = $5::varchar)"
)


class PgKeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, key: SigningKey) -> None:
        await self._db.execute(_key.insert, *_key.encode(key))

    async def set_state(
        self, tenant_id: TenantId, kid: str, state: KeyState, now: Timestamp, *, expected: KeyState | None = None
    ) -> bool:
        """Change the state; False when no such key, or when ``expected`` is given and the key is in another state.

        ``activated_at`` is set to ``now`` when the key becomes active (from another state; re-activating clears
        ``retired_at``). ``retired_at`` records when the key *stopped signing*: it is set on the first move to
        ``retiring`` or ``retired`` and kept afterwards.
        """
        expected_value = None if expected is None else expected.value
        return await self._db.execute(_SET_STATE, tenant_id, kid, state.value, now, expected_value) == 1

    async def list(self, tenant_id: TenantId) -> builtins.list[SigningKey]:
        """Oldest first (``created_at``, then ``kid``)."""
        return [_key.decode(row) for row in await self._db.fetch(_LIST, tenant_id)]
