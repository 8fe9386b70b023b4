"""The PostgreSQL driver's own guarantees, beyond the shared contract: single winners across processes (two pools on
one database), a pool that stays bounded, fails fast while the database is away and recovers without a restart,
transactions that roll back whole, and connections that close with the stores."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from faults import database_proxy, via_proxy
from pixie.storage.interfaces import AlreadyExists, Storage, StorageUnavailable
from pixie.storage.pg import Database, build_pg_storage, open_pg_storage
from pixie.storage.pg.database import rowcount
from pixie.storage.pg.stores import PgRefreshTokenStore
from pixie.storage.schema import open_storage
from pixie.storage.statements.dialect import Statement
from pixie.types import KeyState

from . import factories as f
from .factories import NOW, TENANT

pytestmark = pytest.mark.postgres


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def pg_url(_clean_postgres_url: str) -> str:
    """The migrated per-run database, emptied."""
    return _clean_postgres_url


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[Database]:
    database = Database(_dsn(pg_url))
    yield database
    await database.close()


@pytest.fixture
async def two(pg_url: str) -> AsyncIterator[tuple[Storage, Storage]]:
    """Two drivers on one database, each with its own pool: what two ``pixie serve`` processes are."""
    first, second = Database(_dsn(pg_url)), Database(_dsn(pg_url))
    yield build_pg_storage(first), build_pg_storage(second)
    await first.close()
    await second.close()


async def _pixie_backends(url: str) -> int:
    """Connections the driver holds on ``url``'s database (it names itself ``pixie``)."""
    admin = await asyncpg.connect(_dsn(url))
    try:
        count: int = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pixie'",
            make_url(url).database,
        )
        return count
    finally:
        await admin.close()


# --- single winners across processes ------------------------------------------------------------------------------


async def test_two_processes_racing_for_one_code_yield_one_winner(two: tuple[Storage, Storage]) -> None:
    """RFC 9700 §4.2.4 across instances: 40 concurrent redemptions over two pools, exactly one redeems (and only its
    family is written)."""
    a, b = two
    await a.clients.create(f.client())
    await a.users.create(f.user())
    code = f.code(consumed_at=NOW + 1)
    families = [f.family() for _ in range(40)]
    outcomes = await asyncio.gather(
        *(
            (a, b)[index % 2].codes.redeem(
                dataclasses.replace(code, family_id=family.family_id), family, f.refresh_token(family)
            )
            for index, family in enumerate(families)
        )
    )
    assert Counter(o.status for o in outcomes) == {"redeemed": 1, "replayed": 39}
    written = [family for family in families if await a.refresh.get_family(TENANT, family.family_id) is not None]
    assert len(written) == 1


async def test_two_processes_racing_to_rotate_yield_one_branch(two: tuple[Storage, Storage]) -> None:
    """RFC 9700 §4.14.2 across instances: one rotation wins, the others see the token used, one successor exists."""
    a, b = two
    family = f.family()
    first = f.refresh_token(family)
    await a.refresh.create_family(family, first)
    successors = [f.refresh_token(family) for _ in range(40)]
    outcomes = await asyncio.gather(
        *(
            (a, b)[index % 2].refresh.rotate(TENANT, first.token_hash, successor, NOW + 1)
            for index, successor in enumerate(successors)
        )
    )
    assert Counter(o.status for o in outcomes) == {"rotated": 1, "already_used": 39}
    stored = [await a.refresh.get(TENANT, s.token_hash) for s in successors]
    assert sum(entry is not None for entry in stored) == 1
    # Every loser read the token as the winner left it (the re-read after losing), so all name one successor.
    assert len({o.token.replaced_by_hash for o in outcomes if o.token is not None}) == 1


async def test_rotation_racing_revocation_in_another_process_never_leaves_a_live_branch(
    two: tuple[Storage, Storage],
) -> None:
    """ARCHITECTURE §6.4, repeated: whichever wins, the family ends revoked and a successor's access token, if a
    rotation got one out, is deny-listed (revoke_family waits on the family lock the rotation holds)."""
    a, b = two
    statuses = Counter[str]()
    for round_number in range(25):
        family = f.family()
        first = f.refresh_token(family)
        await a.refresh.create_family(family, first)
        successor = f.refresh_token(family, access_jti=f"successor-{round_number}")
        rotation, revoked = await asyncio.gather(
            a.refresh.rotate(TENANT, first.token_hash, successor, NOW + 1),
            b.refresh.revoke_family(TENANT, family.family_id, "logout", NOW + 1),
        )
        assert revoked
        assert rotation.status in {"rotated", "revoked"}
        assert await a.denylist.is_denied(TENANT, successor.access_jti or "") == (rotation.status == "rotated")
        statuses[rotation.status] += 1
    assert sum(statuses.values()) == 25


async def test_two_processes_promoting_one_key_yield_one_winner(two: tuple[Storage, Storage]) -> None:
    a, b = two
    await a.keys.add(f.signing_key(state=KeyState.NEXT))
    results = await asyncio.gather(
        *(s.keys.set_state(TENANT, "kid-1", KeyState.ACTIVE, NOW + 1, expected=KeyState.NEXT) for s in (a, b) * 10)
    )
    assert results.count(True) == 1
    [key] = await a.keys.list(TENANT)
    assert (key.state, key.activated_at, key.retired_at) == (KeyState.ACTIVE, NOW + 1, None)


async def test_concurrent_first_consents_from_two_processes_all_land_in_the_union(
    two: tuple[Storage, Storage],
) -> None:
    a, b = two
    grants = await asyncio.gather(
        *((a, b)[i % 2].consents.grant(TENANT, "u1", "spa", [f"s{i:02d}", "shared"], NOW + i) for i in range(20))
    )
    stored = await a.consents.get(TENANT, "u1", "spa")
    assert stored is not None
    assert stored.scopes == tuple(sorted({f"s{i:02d}" for i in range(20)} | {"shared"}))
    assert max(len(g.scopes) for g in grants) == len(stored.scopes)


async def test_request_completes_once_across_processes(two: tuple[Storage, Storage]) -> None:
    a, b = two
    request = f.request()
    await a.requests.create(request)
    deleted = await asyncio.gather(*(s.requests.delete(TENANT, request.request_id) for s in (a, b) * 10))
    assert deleted.count(True) == 1


# --- the pool -----------------------------------------------------------------------------------------------------


async def test_pool_is_bounded_and_queues_callers(pg_url: str) -> None:
    db = Database(_dsn(pg_url), max_size=2)
    try:
        peak = 0

        async def call() -> object:
            nonlocal peak
            result = await db.fetchval("SELECT pg_sleep(0.005)")
            peak = max(peak, db.size)
            return result

        await asyncio.gather(*(call() for _ in range(30)))
        assert peak == 2 and db.size == 2
        assert await _pixie_backends(pg_url) == 2
    finally:
        await db.close()
    assert db.size == 0


async def test_no_free_connection_in_time_is_unavailable(pg_url: str) -> None:
    """All connections busy for longer than the acquire timeout: StorageUnavailable (503), not an endless wait."""
    db = Database(_dsn(pg_url), max_size=1, acquire_timeout=0.2)
    try:
        holder = asyncio.create_task(db.fetchval("SELECT pg_sleep(1)"))
        await asyncio.sleep(0.1)  # the one connection is taken
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match="no free connection"):
            await db.fetchval("SELECT 1")
        assert time.monotonic() - started < 3.0
        await holder
        assert await db.fetchval("SELECT 1") == 1
        assert db.size == 1
    finally:
        await db.close()


async def test_a_cancelled_call_cancels_its_statement_and_the_pool_carries_on(pg_url: str, db: Database) -> None:
    """A caller that gives up (``/readyz``'s 2 s timeout) leaves neither a statement running on the server (it could
    hold locks, or commit unseen) nor a half-read connection in the pool."""
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(db.fetchval("SELECT pg_sleep(5)"), 0.1)
    started = time.monotonic()
    assert await asyncio.gather(*(db.fetchval("SELECT 2") for _ in range(3))) == [2, 2, 2]
    assert time.monotonic() - started < 3.0
    admin = await asyncpg.connect(_dsn(pg_url))
    try:
        sleeping = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'SELECT pg_sleep%'",
            make_url(pg_url).database,
        )
    finally:
        await admin.close()
    assert sleeping == 0


async def test_server_reported_errors_keep_the_connection(db: Database) -> None:
    storage = build_pg_storage(db)
    await storage.clients.create(f.client())
    for _ in range(3):
        with pytest.raises(AlreadyExists):
            await storage.clients.create(f.client())
    assert db.size == 1


async def test_a_failed_transaction_rolls_back_and_keeps_the_connection(db: Database) -> None:
    """The second statement fails (a duplicate key): the first one's row is gone, and the connection stays."""
    storage = build_pg_storage(db)
    insert = Statement("INSERT INTO revoked_access_tokens VALUES (:tenant_id, :jti, :expires_at)")
    row = {"tenant_id": TENANT, "jti": "x", "expires_at": NOW}
    with pytest.raises(AlreadyExists):
        await db.transaction([(insert, [row]), (insert, [row])])
    assert not await storage.denylist.is_denied(TENANT, "x")
    assert db.size == 1
    assert await db.transaction([(insert, [row, {**row, "jti": "y"}])]) == [2]
    assert await storage.denylist.is_denied(TENANT, "y")


async def test_a_connection_killed_while_idle_is_replaced(pg_url: str, db: Database) -> None:
    """A server restart or failover closes pooled connections: the next calls, reads and writes, just work."""
    storage = build_pg_storage(db)
    await storage.clients.create(f.client())
    admin = await asyncpg.connect(_dsn(pg_url))
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 "
            "AND application_name = 'pixie'",
            make_url(pg_url).database,
        )
    finally:
        await admin.close()
    assert killed == 1
    await asyncio.sleep(0.1)
    assert await storage.clients.get(TENANT, "spa") == f.client()
    assert await storage.clients.set_disabled(TENANT, "spa", True)


async def test_outage_fails_fast_and_recovers_without_a_restart(pg_url: str) -> None:
    """The database goes away (every connection cut, new ones refused) and comes back: calls during the outage
    raise StorageUnavailable at once, and the first call after it succeeds."""
    with database_proxy(pg_url) as proxy:
        async with open_pg_storage(_dsn(via_proxy(pg_url, proxy))) as storage:
            await storage.clients.create(f.client())
            assert await storage.clients.get(TENANT, "spa") is not None
            proxy.cut()
            for call in (
                lambda: storage.clients.get(TENANT, "spa"),
                lambda: storage.codes.get(TENANT, "x"),
                lambda: storage.denylist.deny(TENANT, "jti", NOW),
            ):
                started = time.monotonic()
                with pytest.raises(StorageUnavailable):
                    await call()
                assert time.monotonic() - started < 3.0
            proxy.restore()
            started = time.monotonic()
            assert await storage.clients.get(TENANT, "spa") is not None
            await storage.denylist.deny(TENANT, "jti", NOW + 60)
            assert time.monotonic() - started < 3.0


async def test_unreachable_database_is_unavailable_without_the_password() -> None:
    async with open_pg_storage("postgresql://postgres:s3cret@127.0.0.1:1/test") as storage:
        with pytest.raises(StorageUnavailable) as caught:
            await storage.tenants.get(TENANT)
    assert "s3cret" not in str(caught.value) and "\n" not in str(caught.value)


async def test_a_closed_database_refuses_calls(db: Database) -> None:
    assert await db.fetchval("SELECT 1") == 1
    await db.close()
    with pytest.raises(StorageUnavailable, match="closed"):
        await db.fetchval("SELECT 1")


async def test_another_event_loop_gets_its_own_connections(pg_url: str) -> None:
    """A CLI or test runner may run several event loops in turn on one Database (disposing it before each loop
    ends): each loop gets connections of its own."""
    db = Database(_dsn(pg_url))

    def in_a_new_loop() -> int:
        async def call() -> int:
            value: int = await db.fetchval("SELECT 7")
            await db.dispose()
            return value

        return asyncio.run(call())

    try:
        assert await asyncio.to_thread(in_a_new_loop) == 7
        assert await asyncio.to_thread(in_a_new_loop) == 7
        assert await db.fetchval("SELECT 8") == 8
        assert db.size == 1
    finally:
        await db.close()


# --- wiring ---------------------------------------------------------------------------------------------------


async def test_open_storage_serves_postgres_with_this_driver_and_closes_it(pg_url: str) -> None:
    async with open_storage(pg_url) as storage:
        assert isinstance(storage.refresh, PgRefreshTokenStore)
        await storage.clients.create(f.client())
        assert await _pixie_backends(pg_url) == 1
    assert await _pixie_backends(pg_url) == 0


def test_rowcount_reads_command_tags() -> None:
    assert [rowcount(tag) for tag in ("UPDATE 1", "DELETE 0", "INSERT 0 3")] == [1, 0, 3]


# --- one schema, one format ---------------------------------------------------------------------------------


async def test_consent_scopes_are_stored_as_json_dumps_writes_them(pg_url: str, db: Database) -> None:
    """The merge happens in SQL (json_agg): its text must be what json.dumps writes, sorted by code point."""
    storage = build_pg_storage(db)
    await storage.consents.grant(TENANT, "u1", "spa", ["b", "B", "a"], NOW)
    await storage.consents.grant(TENANT, "u1", "spa", ["c", "a"], NOW + 1)
    admin = await asyncpg.connect(_dsn(pg_url))
    try:
        text = await admin.fetchval("SELECT scopes::text FROM consents WHERE tenant_id = $1", TENANT)
    finally:
        await admin.close()
    assert text == '["B", "a", "b", "c"]'


async def test_names_are_unique_per_database_not_per_pool(two: tuple[Storage, Storage]) -> None:
    a, b = two
    await a.users.create(f.user())
    with pytest.raises(AlreadyExists):
        await b.users.create(f.user(user_id="u2"))
    assert await b.users.get(TENANT, "u1") == f.user()
