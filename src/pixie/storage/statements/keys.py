"""Signing keys of each tenant's key ring."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from pixie.storage.records import SigningKey
from pixie.storage.statements.codec import RecordCodec
from pixie.storage.statements.dialect import Statement
from pixie.storage.statements.driver import Driver
from pixie.types import KeyState, TenantId, Timestamp

__all__ = ["SqlKeyStore"]

KEY = RecordCodec(SigningKey, "signing_keys")

LIST_KEYS = KEY.select("tenant_id = :tenant_id", order_by="created_at, kid")
LIST_ALL_KEYS = KEY.select("TRUE", order_by="tenant_id, created_at, kid")
FINGERPRINTS = Statement("SELECT sealed_by, count(*) FROM signing_keys GROUP BY sealed_by")
RESEAL = Statement(
    "UPDATE signing_keys SET private_key_encrypted = :private_key_encrypted, sealed_by = :sealed_by "
    "WHERE tenant_id = :tenant_id AND kid = :kid"
)
_ACTIVE = KeyState.ACTIVE.value
_STOPPED = f"'{KeyState.RETIRING.value}', '{KeyState.RETIRED.value}'"
_STATE = "CAST(:state AS VARCHAR)"
_EXPECTED = "CAST(:expected AS VARCHAR)"
# One conditional UPDATE, atomic on its own: concurrent rotations are serialised on the row (SQLite's write lock,
# PostgreSQL's row lock, after which the WHERE clause is checked again on the newest version), so of two instances
# promoting the same key only one succeeds. The CASE arms read the row as it was (the state being left). State
# names are constants from code, never input.
SET_STATE = Statement(
    f"UPDATE signing_keys SET state = {_STATE}, "  # noqa: S608
    f"activated_at = CASE WHEN {_STATE} = '{_ACTIVE}' AND state <> '{_ACTIVE}' THEN :now ELSE activated_at END, "
    "retired_at = CASE "
    f"WHEN {_STATE} = '{_ACTIVE}' AND state <> '{_ACTIVE}' THEN NULL "
    f"WHEN {_STATE} IN ({_STOPPED}) AND retired_at IS NULL THEN :now "
    "ELSE retired_at END "
    f"WHERE tenant_id = :tenant_id AND kid = :kid AND ({_EXPECTED} IS NULL OR state = {_EXPECTED})"
)


class SqlKeyStore:
    def __init__(self, db: Driver) -> None:
        self._db = db

    async def add(self, key: SigningKey) -> None:
        await self._db.execute(KEY.insert, KEY.values(key))

    async def set_state(
        self, tenant_id: TenantId, kid: str, state: KeyState, now: Timestamp, *, expected: KeyState | None = None
    ) -> bool:
        """Change the state; False when no such key, or when ``expected`` is given and the key is in another state.

        ``activated_at`` is set to ``now`` when the key becomes active (from another state; re-activating clears
        ``retired_at``). ``retired_at`` records when the key *stopped signing*: it is set on the first move to
        ``retiring`` or ``retired`` and kept afterwards.
        """
        params = {
            "tenant_id": tenant_id,
            "kid": kid,
            "state": state.value,
            "now": now,
            "expected": None if expected is None else expected.value,
        }
        return await self._db.execute(SET_STATE, params) == 1

    async def list(self, tenant_id: TenantId) -> builtins.list[SigningKey]:
        """Oldest first (``created_at``, then ``kid``)."""
        return [KEY.decode(row) for row in await self._db.fetch_all(LIST_KEYS, {"tenant_id": tenant_id})]

    async def list_all(self) -> builtins.list[SigningKey]:
        """Bulk: every tenant's keys."""
        return [KEY.decode(row) for row in await self._db.fetch_all(LIST_ALL_KEYS, {}, bulk=True)]

    async def fingerprints(self) -> dict[str | None, int]:
        return {row[0]: row[1] for row in await self._db.fetch_all(FINGERPRINTS, {}, bulk=True)}

    async def reseal(self, keys: Sequence[SigningKey]) -> None:
        """Bulk, one transaction."""
        if not keys:
            return
        rows = [
            {
                "tenant_id": key.tenant_id,
                "kid": key.kid,
                "private_key_encrypted": key.private_key_encrypted,
                "sealed_by": key.sealed_by,
            }
            for key in keys
        ]
        await self._db.transaction([(RESEAL, rows)], bulk=True)
