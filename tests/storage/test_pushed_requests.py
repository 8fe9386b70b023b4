"""PushedRequestStore contract, on SQLite and PostgreSQL: a pushed request is taken once, never after it expires,
only in its tenant, and purged when unused.

Spec: RFC 9126 §2.2 (``expires_in``), §4 (one-time use).
"""

from __future__ import annotations

import asyncio
import json

from pixie.storage.interfaces import Storage
from pixie.storage.records import PushedRequest

from .factories import NOW, OTHER, TENANT


def _pushed(uri_hash: str = "h" * 64, tenant_id: str = TENANT, expires_at: float = NOW + 60) -> PushedRequest:
    parameters = json.dumps([["client_id", "spa"], ["state", "s"]])
    return PushedRequest(tenant_id, uri_hash, "spa", parameters, NOW, expires_at)


async def test_a_pushed_request_is_taken_once(storage: Storage) -> None:
    await storage.pushed.create(_pushed())
    assert await storage.pushed.take(OTHER, "h" * 64, NOW) is None
    assert await storage.pushed.take(TENANT, "h" * 64, NOW) == _pushed()
    assert await storage.pushed.take(TENANT, "h" * 64, NOW) is None


async def test_of_concurrent_takes_exactly_one_gets_it(storage: Storage) -> None:
    await storage.pushed.create(_pushed())
    taken = await asyncio.gather(*(storage.pushed.take(TENANT, "h" * 64, NOW) for _ in range(8)))
    assert [t for t in taken if t is not None] == [_pushed()]


async def test_an_expired_request_is_not_given_and_is_purged(storage: Storage) -> None:
    await storage.pushed.create(_pushed("a" * 64, expires_at=NOW + 1))
    await storage.pushed.create(_pushed("b" * 64, expires_at=NOW + 1))
    await storage.pushed.create(_pushed("c" * 64, tenant_id=OTHER, expires_at=NOW + 120))
    assert await storage.pushed.take(TENANT, "a" * 64, NOW + 1) is None
    assert await storage.pushed.purge_expired(NOW + 1) == 1  # b; a went when it was taken
    assert await storage.pushed.take(OTHER, "c" * 64, NOW + 1) is not None
