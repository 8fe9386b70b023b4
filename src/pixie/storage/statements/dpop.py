"""The DPoP replay window: each proof is recorded once, in the database every instance shares.

Spec: RFC 9449 §11.1 (a ``jti`` is accepted once within the proof's window).
"""

from __future__ import annotations

from pixie.storage.statements.dialect import Statement
from pixie.storage.statements.driver import Driver
from pixie.types import TenantId, Timestamp

__all__ = ["SqlProofReplayStore"]

RECORD = Statement(
    "INSERT INTO dpop_proofs (tenant_id, replay_key, expires_at) VALUES (:tenant_id, :replay_key, :expires_at) "
    "ON CONFLICT DO NOTHING"
)
PURGE = Statement("DELETE FROM dpop_proofs WHERE expires_at <= :now")


class SqlProofReplayStore:
    def __init__(self, db: Driver) -> None:
        self._db = db

    async def first_use(self, tenant_id: TenantId, replay_key: str, expires_at: Timestamp) -> bool:
        """One statement: the primary key makes a second insert of the same proof a no-op, on every instance."""
        inserted = await self._db.execute(
            RECORD, {"tenant_id": tenant_id, "replay_key": replay_key, "expires_at": expires_at}
        )
        return inserted == 1

    async def purge_expired(self, now: Timestamp) -> int:
        return await self._db.execute(PURGE, {"now": now}, bulk=True)
