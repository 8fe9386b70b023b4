"""Signing keys of each tenant's key ring."""

from __future__ import annotations

import builtins
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from pixie.storage.records import SigningKey
from pixie.storage.sql.base import SqlStore, row_from_record
from pixie.storage.sql.tables import signing_keys
from pixie.types import KeyState, TenantId, Timestamp

__all__ = ["SqlKeyStore"]

_keys = signing_keys


def _key_from_row(row: RowMapping) -> SigningKey:
    return SigningKey(**{**row, "state": KeyState(row["state"])})


class SqlKeyStore(SqlStore):
    async def add(self, key: SigningKey) -> None:
        async with self._write() as connection:
            await connection.execute(_keys.insert().values({**row_from_record(key), "state": key.state.value}))

    async def set_state(
        self, tenant_id: TenantId, kid: str, state: KeyState, now: Timestamp, *, expected: KeyState | None = None
    ) -> bool:
        """Change the state; False when no such key, or when ``expected`` is given and the key is in another state
        (the row is locked first, so two instances promoting the same ``next`` key cannot both succeed).

        ``activated_at`` is set to ``now`` when the key becomes active (from another state; re-activating clears
        ``retired_at``). ``retired_at`` records when the key *stopped signing*: it is set on the first move to
        ``retiring`` or ``retired`` and kept afterwards, so the key ring can tell when every token the key signed
        has expired.
        """
        key = (_keys.c.tenant_id == tenant_id, _keys.c.kid == kid)
        async with self._write() as connection:
            result = await connection.execute(
                sa.select(_keys.c.state, _keys.c.retired_at).where(*key).with_for_update()
            )
            row = result.first()
            if row is None or (expected is not None and row.state != expected.value):
                return False
            values: dict[str, Any] = {"state": state.value}
            if state is KeyState.ACTIVE and row.state != KeyState.ACTIVE.value:
                values.update(activated_at=now, retired_at=None)
            elif state in (KeyState.RETIRING, KeyState.RETIRED) and row.retired_at is None:
                values["retired_at"] = now
            await connection.execute(_keys.update().where(*key).values(values))
        return True

    async def list(self, tenant_id: TenantId) -> builtins.list[SigningKey]:
        """Oldest first (``created_at``, then ``kid``)."""
        async with self._read() as connection:
            result = await connection.execute(
                sa.select(_keys).where(_keys.c.tenant_id == tenant_id).order_by(_keys.c.created_at, _keys.c.kid)
            )
            return [_key_from_row(row) for row in result.mappings()]
