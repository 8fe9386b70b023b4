"""Several instances started at once on a new, empty database all come up, with one default tenant and one active
signing key between them.

Regression: start-up created the default tenant with a plain insert (the second instance died with "duplicate key
... pk_tenants", exit 1) and its keys with an unguarded "no active key? add one" (two active keys, two next keys).
Now the insert tolerates the other instance's row, and the first key is promoted with a compare-and-set.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from pgsupport import temporary_postgres_database
from pixie.management import ensure_default_tenant
from pixie.storage.interfaces import Storage
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing
from pixie.types import KeyState
from scaleout.dbcheck import check_database
from scaleout.support import MASTER_KEY, running_all

pytestmark = pytest.mark.postgres


async def _empty(url: str, *tables: str) -> None:
    connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        for table in tables:
            await connection.execute(f"DELETE FROM {table}")  # noqa: S608 (table names from the test)
    finally:
        await connection.close()


async def _staggered(delay: float, ring: KeyRing, storage: Storage) -> None:
    await asyncio.sleep(delay)
    await ensure_default_tenant(storage, ring)


async def test_instances_started_together_on_a_new_database_all_come_up(workdir: Path) -> None:
    """Two ``pixie serve`` processes started at the same moment on an empty database both serve. Then, since a
    real start only sometimes hits the race, the start-up steps run from two "instances" (own connections, own key
    ring) together many times over: one default tenant, exactly one active key, every time."""
    async with temporary_postgres_database() as url:
        with running_all(["cold-1", "cold-2"], url, workdir) as started:
            assert all(instance.proc.poll() is None for instance in started)
        assert (await check_database(url)).inconsistencies == []

        async with open_storage(url) as first, open_storage(url) as second:
            stores = [first, second]
            rings = [KeyRing(s.keys, MASTER_KEY, cache_ttl=0) for s in stores]
            for trial in range(16):
                await _empty(url, "signing_keys", "tenants")
                stagger = random.uniform(0, 0.01) if trial % 2 else 0.0
                await asyncio.gather(
                    ensure_default_tenant(stores[0], rings[0]), _staggered(stagger, rings[1], stores[1])
                )
                states = Counter(key.state for key in await stores[0].keys.list("default"))
                assert states[KeyState.ACTIVE] == 1, f"trial {trial}: {states}"
                assert 1 <= states[KeyState.NEXT] <= 2, f"trial {trial}: {states}"
                assert [t.id for t in await stores[0].tenants.list()] == ["default"]
