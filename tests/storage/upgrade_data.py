"""A fixed set of records that covers every table and every column format, written and read back through the stores.

``tests/storage/data/rows-<revision>.json`` holds these records as a Pixie at schema head ``<revision>`` stored them,
row by row, on SQLite and on PostgreSQL; ``test_upgrade.py`` loads those rows into a database at that revision,
lets the current Pixie migrate it, and reads every record back. To record the rows of another head, run this
module with that Pixie's ``src`` first on ``PYTHONPATH`` (and ``tests`` after it)::

    PYTHONPATH=<pixie checkout>/src:tests .venv/bin/python tests/storage/upgrade_data.py > rows.json
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from pixie.storage.interfaces import Storage
from pixie.storage.records import Consent, Tenant, TenantSettings
from pixie.types import KeyState
from storage import factories as f
from storage.factories import NOW, OTHER, TENANT

TABLES = (
    "tenants",
    "clients",
    "users",
    "sso_sessions",
    "consents",
    "authorization_requests",
    "authorization_codes",
    "refresh_families",
    "refresh_tokens",
    "revoked_access_tokens",
    "signing_keys",
    "event_batches",
)


def records() -> dict[str, Any]:
    """Every kind of record, with optional fields both set and unset, nested settings, bytes and JSON objects."""
    settings = TenantSettings(
        scope_roles=(("admin", ("owner", "ops")),),
        webhooks=(("https://hooks.example/p", "c2VhbGVk", ("login_failed",)),),
        default_audience="https://api.example",
        brand_color="#123456",
        refresh_grace_seconds=5,
    )
    family = f.family(family_id="fam-1", revoked_at=NOW + 3, revoked_reason="logout", user_id=None, auth_time=None)
    live = f.family(family_id="fam-2")
    return {
        "tenant": Tenant(id=TENANT, display_name="Acme", created_at=NOW, settings=settings),
        "other_tenant": Tenant(id=OTHER, display_name="Globex", created_at=NOW + 1, disabled=True),
        "client": f.client(secret_hash="ab" * 32, audiences=("a", "b"), disabled=True, refresh_grace_seconds=5),
        "plain_client": f.client(client_id="cli", access_token_ttl=60, refresh_idle_ttl=600, refresh_absolute_ttl=900),
        "user": f.user(roles=("owner",)),
        "other_user": f.user(OTHER, user_id="u2", username="bob", disabled=True),
        "session": f.session(session_hash="s" * 64, revoked_at=NOW + 5),
        "consent": Consent(TENANT, "u1", "spa", ("a", "b"), NOW),
        "request": f.request(request_id="req-1", correlation_id="c1", csrf_hash="c" * 64, user_id="u1", auth_time=NOW),
        "bare_request": f.request(request_id="req-2", correlation_id="c2", csrf_hash="d" * 64, state=None),
        "code": f.code(
            code_hash="k" * 64,
            correlation_id="c3",
            consumed_at=NOW + 1,
            family_id="fam-1",
            access_jti="jti-1",
            access_expires_at=NOW + 300,
        ),
        "family": family,
        "token": f.refresh_token(
            family,
            token_hash="t" * 64,
            access_jti="jti-2",
            retry_response=b"\x00sealed\xff",
            used_at=NOW + 2,
            replaced_by_hash="u" * 64,
        ),
        "live_family": live,
        "live_token": f.refresh_token(live, token_hash="v" * 64, access_jti=None, access_expires_at=None),
        "denied": ("jti-9", NOW + 60),
        "key": f.signing_key(state=KeyState.RETIRING, activated_at=NOW, retired_at=NOW + 9),
        "next_key": f.signing_key(OTHER, kid="kid-2", alg="RS256"),
        "event": f.event(detail={"reason": "x", "n": [1, 2]}, error="invalid_grant", duration_ms=1.5, client_id="spa"),
        "other_event": f.event(OTHER, kind="login_failed", outcome="failure", created_at=NOW + 2),
    }


async def write(storage: Storage, wanted: dict[str, Any]) -> None:
    """Store ``wanted`` through the stores, as a running Pixie would."""
    for name in ("tenant", "other_tenant"):
        await storage.tenants.create(wanted[name])
    for name in ("client", "plain_client"):
        await storage.clients.create(wanted[name])
    for name in ("user", "other_user"):
        await storage.users.create(wanted[name])
    await storage.sessions.create(wanted["session"])
    consent = wanted["consent"]
    await storage.consents.grant(TENANT, consent.user_id, consent.client_id, ["b", "a"], consent.granted_at)
    for name in ("request", "bare_request"):
        await storage.requests.create(wanted[name])
    assert (await storage.codes.redeem(wanted["code"])).status == "redeemed"  # a code is stored once redeemed
    await storage.refresh.create_family(wanted["family"], wanted["token"])
    await storage.refresh.create_family(wanted["live_family"], wanted["live_token"])
    await storage.denylist.deny(TENANT, *wanted["denied"])
    for name in ("key", "next_key"):
        await storage.keys.add(wanted[name])
    await storage.events.append([wanted["event"], wanted["other_event"]])


async def read(storage: Storage, wanted: dict[str, Any]) -> dict[str, Any]:
    """What the stores give back for each record of ``wanted`` (reads only: nothing changes)."""
    session, token, live_token = wanted["session"], wanted["token"], wanted["live_token"]
    found: dict[str, Any] = {
        "tenant": await storage.tenants.get(TENANT),
        "other_tenant": await storage.tenants.get(OTHER),
        "client": await storage.clients.get(TENANT, "spa"),
        "plain_client": await storage.clients.get(TENANT, "cli"),
        "user": await storage.users.get(TENANT, "u1"),
        "other_user": await storage.users.get_by_username(OTHER, "bob"),
        "session": await storage.sessions.get(TENANT, session.session_hash),
        "consent": await storage.consents.get(TENANT, "u1", "spa"),
        "request": await storage.requests.get(TENANT, "req-1", NOW),
        "bare_request": await storage.requests.get(TENANT, "req-2", NOW),
        "family": await storage.refresh.get_family(TENANT, "fam-1"),
        "live_family": await storage.refresh.get_family(TENANT, "fam-2"),
        "denied": wanted["denied"] if await storage.denylist.is_denied(TENANT, "jti-9") else None,
        "key": (await storage.keys.list(TENANT))[0],
        "next_key": (await storage.keys.list(OTHER))[0],
        "event": (await storage.events.query(TENANT, NOW - 1, NOW + 1))[0],
        "other_event": (await storage.events.query(OTHER, NOW - 1, NOW + 3))[0],
    }
    pair = await storage.refresh.get(TENANT, token.token_hash)
    found["token"] = None if pair is None else pair[0]
    live = await storage.refresh.get_with_user(TENANT, live_token.token_hash)
    found["live_token"] = None if live is None else live[0]
    signed_in = await storage.sessions.get_signed_in(TENANT, session.session_hash, "spa")
    assert signed_in == (wanted["session"], wanted["user"], wanted["consent"]), signed_in
    found["code"] = await storage.codes.get(TENANT, wanted["code"].code_hash)
    return found


def _encode(value: Any) -> Any:
    return {"$bytes": value.hex()} if isinstance(value, bytes | memoryview) else value


def _sqlite_rows(path: str) -> dict[str, Any]:
    connection = sqlite3.connect(path)
    try:
        dump = {}
        for table in TABLES:
            cursor = connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2")  # noqa: S608 (names from code)
            columns = [column[0] for column in cursor.description]
            dump[table] = {"columns": columns, "rows": [[_encode(v) for v in row] for row in cursor]}
        return dump
    finally:
        connection.close()


async def _postgres_rows(dsn: str) -> dict[str, Any]:
    connection = await asyncpg.connect(dsn)
    try:
        dump = {}
        for table in TABLES:
            rows = await connection.fetch(f"SELECT * FROM {table} ORDER BY 1, 2")  # noqa: S608 (names from code)
            columns = list(rows[0].keys()) if rows else []
            dump[table] = {"columns": columns, "rows": [[_encode(v) for v in row.values()] for row in rows]}
        return dump
    finally:
        await connection.close()


async def _record() -> dict[str, Any]:
    """The rows that the Pixie on ``sys.path`` writes for :func:`records`, on both databases."""
    try:
        from pixie.storage.schema import open_storage
    except ImportError:  # a Pixie from before the schema package
        from pixie.storage.sql import open_storage  # type: ignore[import-not-found,no-redef]
    from pgsupport import temporary_postgres_database

    wanted = records()
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "pixie.db")
        async with open_storage(f"sqlite:///{path}") as storage:
            await write(storage, wanted)
        sqlite = _sqlite_rows(path)
        revision = sqlite3.connect(path).execute("SELECT version_num FROM alembic_version").fetchone()[0]
    async with temporary_postgres_database() as url:
        async with open_storage(url) as storage:
            await write(storage, wanted)
        postgresql = await _postgres_rows(make_url(url).set(drivername="postgresql").render_as_string(False))
    return {"revision": revision, "sqlite": sqlite, "postgresql": postgresql}


if __name__ == "__main__":
    json.dump(asyncio.run(_record()), sys.stdout, indent=1)
    sys.stdout.write("\n")
