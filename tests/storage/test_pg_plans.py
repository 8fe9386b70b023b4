"""PostgreSQL must find every row the hot path asks for by its key, whatever the tables' statistics say.

The asyncpg backend prepares each statement once per connection and keeps it; after five executions PostgreSQL may
switch it to a generic plan, chosen without the parameters' values and kept until the table is next analyzed. On a
new database (tables never analyzed, as after migrating, and for a minute or more until autovacuum first gets to
them) generic plans chose the secondary index ``(tenant_id, family_id)`` over the primary key
``(tenant_id, code_hash)`` or ``(tenant_id, token_hash)``, and planned joined tables as scans of the whole tenant:
a tie on the leading ``tenant_id``, after which every lookup read all of the tenant's rows (measured in a
benchmark: ~1,500 rows per code lookup and ~1,240 per rotation after a few seconds; PostgreSQL then spent a whole
core on 520 SSO flows/s). Secondary indexes now lead with their selective column, rotation finds the token by its
key alone and joined rows are fenced key lookups (:meth:`pixie.storage.statements.dialect.Dialect.join_by_key`);
this test holds every table each hot statement reads to the index it should use, on a database never analyzed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from pgsupport import temporary_postgres_database
from pixie.storage.pg import stores
from pixie.storage.schema import create_engine, migrate
from pixie.storage.statements import authorization, directory, refresh, sessions

pytestmark = pytest.mark.postgres

_CODES = {"authorization_codes": "pk_authorization_codes"}
_REQUESTS = {"authorization_requests": "pk_authorization_requests"}
_TOKENS = {"refresh_tokens": "pk_refresh_tokens"}
_FAMILIES = {"refresh_families": "pk_refresh_families"}
_USERS = {"users": "pk_users"}
_SESSIONS = {"sso_sessions": "pk_sso_sessions"}

# (statement, {every table it reads rows of: the index each read must use})
HOT = [
    pytest.param(authorization.GET_CODE.postgresql, _CODES, id="code-get"),
    # A redemption reads only its user (the code's own row is the insert's: the unique key arbitrates it).
    pytest.param(authorization.RECORD_REDEEMED.postgresql, _USERS, id="code-redeemed"),
    pytest.param(stores.REDEEM_INTO_FAMILY.postgresql, _USERS, id="code-redeemed-into-family"),
    pytest.param(authorization.GET_REQUEST.postgresql, _REQUESTS, id="request-get"),
    pytest.param(authorization.SET_USER.postgresql, _REQUESTS, id="request-user"),
    pytest.param(refresh.GET_TOKEN.postgresql, _TOKENS, id="token-get"),
    pytest.param(refresh.GET_WITH_FAMILY.postgresql, _TOKENS | _FAMILIES, id="token-with-family"),
    pytest.param(refresh.GET_WITH_USER.postgresql, _TOKENS | _FAMILIES | _USERS, id="token-with-user"),
    pytest.param(stores.ROTATE.postgresql, _TOKENS | _FAMILIES, id="rotate"),
    pytest.param(refresh.GET_FAMILY.postgresql, _FAMILIES, id="family-get"),
    pytest.param(refresh.IS_DENIED.postgresql, {"revoked_access_tokens": "pk_revoked_access_tokens"}, id="deny-list"),
    pytest.param(directory.GET_USER.postgresql, _USERS, id="user-get"),
    pytest.param(directory.GET_USER_BY_NAME.postgresql, {"users": "uq_users_username_tenant_id"}, id="user-by-name"),
    pytest.param(directory.GET_CLIENT.postgresql, {"clients": "pk_clients"}, id="client-get"),
    pytest.param(sessions.GET_SESSION.postgresql, _SESSIONS, id="session-get"),
    pytest.param(sessions.GET_SIGNED_IN.postgresql, _SESSIONS | _USERS | {"consents": "pk_consents"}, id="signed-in"),
    pytest.param(sessions.TOUCH.postgresql, _SESSIONS, id="session-touch"),
    pytest.param(sessions.GET_CONSENT.postgresql, {"consents": "pk_consents"}, id="consent-get"),
]


@pytest.fixture(scope="module")
async def never_analyzed() -> AsyncIterator[asyncpg.Connection]:
    """A connection to a freshly migrated database whose tables have never been analyzed, planning generically."""
    async with temporary_postgres_database() as url:
        engine = create_engine(url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn)
        await connection.execute("SET plan_cache_mode = force_generic_plan")
        yield connection
        await connection.close()


def _scans(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "Relation Name" in plan and plan["Node Type"] != "ModifyTable":
        yield plan
    for child in plan.get("Plans", ()):
        yield from _scans(child)


async def _generic_plan(connection: asyncpg.Connection, sql: str) -> dict[str, Any]:
    statement = await connection.prepare(sql)
    arguments = ", ".join("NULL" for _ in statement.get_parameters())
    name = f"hot_{abs(hash(sql))}"
    await connection.execute(f"PREPARE {name} AS {sql}")
    try:
        raw = await connection.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE {name}({arguments})")
    finally:
        await connection.execute(f"DEALLOCATE {name}")
    plan: dict[str, Any] = json.loads(raw)[0]["Plan"]
    return plan


@pytest.mark.parametrize(("sql", "indexes"), HOT)
async def test_hot_lookups_use_their_key_on_a_never_analyzed_database(
    never_analyzed: asyncpg.Connection, sql: str, indexes: dict[str, str]
) -> None:
    plan = await _generic_plan(never_analyzed, sql)
    used = {(scan["Relation Name"], scan["Node Type"], scan.get("Index Name")) for scan in _scans(plan)}
    wanted = {(table, kind, index) for table, index in indexes.items() for kind in ("Index Scan", "Index Only Scan")}
    assert used and used <= wanted, json.dumps(plan, indent=1)
    assert {table for table, _, _ in used} == set(indexes), json.dumps(plan, indent=1)


async def test_the_check_sees_a_lookup_that_reads_the_whole_tenant(never_analyzed: asyncpg.Connection) -> None:
    """The failure this test guards against, made on purpose: an index that leads with ``tenant_id`` alone."""
    await never_analyzed.execute("CREATE INDEX ix_trap ON refresh_tokens (tenant_id, access_jti)")
    try:
        plan = await _generic_plan(never_analyzed, refresh.GET_TOKEN.postgresql)
    finally:
        await never_analyzed.execute("DROP INDEX ix_trap")
    assert [(scan["Node Type"], scan.get("Index Name")) for scan in _scans(plan)] == [("Index Scan", "ix_trap")]
