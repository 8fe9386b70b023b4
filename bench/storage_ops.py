"""Storage cost per call on SQLite and PostgreSQL, for this checkout and, in the same run, an earlier revision.

Run on purpose, never from ``make test``::

    .venv/bin/python bench/storage_ops.py                          # this tree, both databases (~1 min)
    .venv/bin/python bench/storage_ops.py --baseline 40366f8       # and the tree at 40366f8, interleaved, with ratios
    .venv/bin/python bench/storage_ops.py --databases sqlite --rounds 5 --calls 2000

What it measures: every hot store operation of the stateful grants (a client, user and SSO-session lookup, a
session touch, an authorization request's life, a code's issue and redemption, a refresh family's start from a
code, a refresh token's lookup and rotation, the deny-list check, a consent grant, an event batch), each called
``--calls`` times one after another in one event loop under uvloop, as ``pixie serve`` runs: µs per call. Then
``concurrent refresh``: 32 tasks each doing a refresh grant's storage calls (token with family and user, rotation,
deny-list check), reported as grants/s and as CPU µs per grant of the measuring process (the database server's
own CPU is not in it).

Method: each (tree, database, round) runs in a fresh process pinned to core 0 (``taskset``, when there), with
PostgreSQL and everything else left to the other core. The rounds alternate the trees, so a change of the machine's
speed during the run hits both alike; each figure is the median of its rounds, and the ratio is this tree's figure
over the baseline's (below 1: this tree is faster). The baseline runs in its own install of that revision
(:mod:`baseline`, shared with ``compare.py --baseline``). SQLite gets a fresh migrated file per process; PostgreSQL
a scratch database for the run (``PIXIE_BENCH_POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``
names the server), emptied before each process.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import baseline

ROOT = Path(__file__).resolve().parents[1]
TENANT = "default"
NOW = time.time()
REDIRECT = "http://127.0.0.1:9999/cb"
TABLES = (
    "event_batches, signing_keys, revoked_access_tokens, refresh_tokens, refresh_families, authorization_codes, "
    "authorization_requests, consents, sso_sessions, users, clients, tenants"
)


# --- the worker: one tree, one database, one round -------------------------------------------------------------


def _hash() -> str:
    return secrets.token_hex(32)


def _open(url: str) -> Any:
    """``open_storage`` of whichever tree is on ``sys.path`` (it moved from ``pixie.storage.sql``)."""
    try:
        from pixie.storage.schema import open_storage
    except ImportError:
        from pixie.storage.sql import open_storage  # type: ignore[no-redef]
    return open_storage(url)


async def _seed(storage: Any) -> str:
    """A tenant, client, user and SSO session, and a deny-listed jti; the session's hash."""
    from pixie.storage.records import Client, SsoSession, Tenant, User

    await storage.tenants.create(Tenant(id=TENANT, display_name="Default", created_at=NOW))
    await storage.clients.create(
        Client(
            tenant_id=TENANT,
            client_id="bench",
            client_type="public",
            token_endpoint_auth_method="none",
            redirect_uris=(REDIRECT,),
            grant_types=("authorization_code", "refresh_token"),
            scopes=("api:read",),
            created_at=NOW,
        )
    )
    await storage.users.create(
        User(tenant_id=TENANT, user_id="u1", username="bench", password_hash="$argon2id$x", created_at=NOW)
    )
    session_hash = _hash()
    await storage.sessions.create(
        SsoSession(
            tenant_id=TENANT,
            session_hash=session_hash,
            user_id="u1",
            auth_time=NOW,
            created_at=NOW,
            last_seen_at=NOW,
            idle_ttl=3600,
            absolute_expires_at=NOW + 86400,
        )
    )
    await storage.denylist.deny(TENANT, "denied", NOW + 300)
    return session_hash


def _family(factory: Any) -> Any:
    return factory(
        tenant_id=TENANT,
        family_id=secrets.token_urlsafe(16),
        client_id="bench",
        user_id="u1",
        scopes=("api:read",),
        auth_time=NOW,
        created_at=NOW,
        absolute_expires_at=NOW + 90 * 86400,
    )


def _token(family_id: str) -> Any:
    from pixie.storage.records import RefreshToken

    return RefreshToken(
        tenant_id=TENANT,
        token_hash=_hash(),
        family_id=family_id,
        scopes=("api:read",),
        created_at=NOW,
        expires_at=NOW + 14 * 86400,
        access_jti=secrets.token_urlsafe(12),
        access_expires_at=NOW + 300,
    )


def _request() -> Any:
    from pixie.storage.records import AuthorizationRequest

    return AuthorizationRequest(
        tenant_id=TENANT,
        request_id=secrets.token_urlsafe(16),
        client_id="bench",
        redirect_uri=REDIRECT,
        redirect_uri_provided=True,
        scopes=("api:read",),
        state="xyz",
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method="S256",
        prompt=(),
        correlation_id=secrets.token_hex(8),
        csrf_hash=_hash(),
        created_at=NOW,
        expires_at=NOW + 600,
    )


def _code() -> Any:
    from pixie.storage.records import AuthorizationCode

    return AuthorizationCode(
        tenant_id=TENANT,
        code_hash=_hash(),
        client_id="bench",
        user_id="u1",
        redirect_uri=REDIRECT,
        redirect_uri_provided=True,
        scopes=("api:read",),
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method="S256",
        auth_time=NOW,
        correlation_id=secrets.token_hex(8),
        created_at=NOW,
        expires_at=NOW + 60,
    )


async def _timed(calls: list[Callable[[], Awaitable[object]]]) -> float:
    """µs per call of running ``calls`` one after the other."""
    started = time.perf_counter()
    for call in calls:
        await call()
    return (time.perf_counter() - started) / len(calls) * 1e6


async def _operations(storage: Any, n: int) -> dict[str, float]:
    from pixie.storage.records import Event, RefreshFamily

    session_hash = await _seed(storage)
    s, out = storage, {}
    out["clients.get"] = await _timed([lambda: s.clients.get(TENANT, "bench")] * n)
    out["users.get"] = await _timed([lambda: s.users.get(TENANT, "u1")] * n)
    out["sessions.get_signed_in"] = await _timed([lambda: s.sessions.get_signed_in(TENANT, session_hash, "bench")] * n)
    out["sessions.touch"] = await _timed(
        [lambda i=i: s.sessions.touch(TENANT, session_hash, NOW + 1 + i) for i in range(n)]
    )
    requests = [_request() for _ in range(n)]
    out["requests.create"] = await _timed([lambda r=r: s.requests.create(r) for r in requests])
    out["requests.get"] = await _timed([lambda r=r: s.requests.get(TENANT, r.request_id, NOW) for r in requests])
    out["requests.delete"] = await _timed([lambda r=r: s.requests.delete(TENANT, r.request_id) for r in requests])
    codes = [_code() for _ in range(n)]
    out["codes.create"] = await _timed([lambda c=c: s.codes.create(c) for c in codes])
    out["codes.redeem"] = await _timed([lambda c=c: s.codes.redeem(TENANT, c.code_hash, NOW) for c in codes])
    families = [_family(RefreshFamily) for _ in range(n)]
    firsts = [_token(family.family_id) for family in families]
    out["refresh.create_family"] = await _timed(
        [
            lambda f=f, t=t, c=c: s.refresh.create_family(f, t, from_code=c.code_hash)
            for f, t, c in zip(families, firsts, codes, strict=True)
        ]
    )
    first = firsts[0]
    out["refresh.get_with_user"] = await _timed([lambda: s.refresh.get_with_user(TENANT, first.token_hash)] * n)
    chain = [first] + [_token(families[0].family_id) for _ in range(n)]
    out["refresh.rotate"] = await _timed(
        [
            lambda a=a, b=b: s.refresh.rotate(TENANT, a.token_hash, b, NOW + 1, retry_response=b"x" * 200)
            for a, b in itertools.pairwise(chain)
        ]
    )
    out["denylist.is_denied"] = await _timed([lambda: s.denylist.is_denied(TENANT, "denied")] * n)
    out["consents.grant"] = await _timed([lambda: s.consents.grant(TENANT, "u1", "bench", ["api:read"], NOW)] * n)
    event = Event(tenant_id=TENANT, kind="token_issued", outcome="success", created_at=NOW, client_id="bench")
    out["events.append (1)"] = await _timed([lambda: s.events.append([event])] * n)
    return out


async def _concurrent_refresh(storage: Any, grants: int, tasks: int = 32) -> dict[str, float]:
    """``tasks`` concurrent chains of refresh grants: grants/s and CPU µs per grant of this process."""
    from pixie.storage.records import RefreshFamily

    heads = []
    for _ in range(tasks):
        family = _family(RefreshFamily)
        first = _token(family.family_id)
        await storage.refresh.create_family(family, first)
        heads.append(first)

    async def chain(head: Any) -> None:
        for _ in range(grants // tasks):
            found = await storage.refresh.get_with_user(TENANT, head.token_hash)
            successor = _token(found[0].family_id)
            rotation = await storage.refresh.rotate(TENANT, head.token_hash, successor, NOW + 1)
            assert rotation.status == "rotated", rotation.status
            await storage.denylist.is_denied(TENANT, head.access_jti)
            head = successor

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(chain(head) for head in heads))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    done = grants // tasks * tasks
    return {"concurrent refresh: grants/s": done / wall, "concurrent refresh: CPU µs/grant": cpu / done * 1e6}


async def _empty_postgres(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f"TRUNCATE {TABLES}")
    finally:
        await connection.close()


async def _worker(database: str, url: str, calls: int) -> dict[str, float]:
    async with _open(url) as storage:
        if database == "postgresql":
            await _empty_postgres(url)
        results = await _operations(storage, calls)
        results.update(await _concurrent_refresh(storage, grants=calls * 2))
    return results


def _run_worker(arguments: argparse.Namespace) -> None:
    import uvloop

    results = uvloop.run(_worker(arguments.database, arguments.url, arguments.calls))
    print(json.dumps(results))


# --- the parent: trees, databases, rounds ----------------------------------------------------------------------


def _pinned() -> list[str]:
    return ["taskset", "-c", "0"] if (os.cpu_count() or 1) >= 2 and shutil.which("taskset") else []


def _template(directory: Path) -> Path:
    """A migrated SQLite file to copy for every process (the schema is the same for both trees)."""
    path = directory / "template.db"
    code = "import asyncio, sys; from pixie.storage.schema import open_storage\n"
    code += "async def main():\n    async with open_storage(sys.argv[1]):\n        pass\nasyncio.run(main())\n"
    subprocess.run([sys.executable, "-c", code, f"sqlite:///{path}"], check=True)
    return path


def _measure(python: str, database: str, url: str, calls: int) -> dict[str, float]:
    command = [*_pinned(), python, __file__, "--worker", "--database", database, "--url", url]
    command += ["--calls", str(calls)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def _scratch_postgres(server: str, name: str, *, drop: bool = False) -> str:
    import asyncpg

    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return server.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", help="a git revision to measure in the same run, e.g. HEAD~1")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=1000, help="calls per operation and round")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        _run_worker(arguments)
        return

    trees: list[tuple[str, str]] = [("this tree", sys.executable)]
    if arguments.baseline:
        sha = baseline.resolve(arguments.baseline)
        trees.append((sha[:7], str(baseline.install(sha).with_name("python"))))
    databases = arguments.databases.split(",")
    server = os.environ.get("PIXIE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    scratch = f"pixie_bench_{secrets.token_hex(4)}"
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as directory:
        template = _template(Path(directory)) if "sqlite" in databases else None
        pg_url = asyncio.run(_scratch_postgres(server, scratch)) if "postgresql" in databases else ""
        try:
            for round_number in range(arguments.rounds):
                order = trees if round_number % 2 == 0 else trees[::-1]
                for database in databases:
                    for label, python in order:
                        if database == "sqlite":
                            assert template is not None
                            path = Path(directory) / f"{secrets.token_hex(4)}.db"
                            shutil.copyfile(template, path)
                            url = f"sqlite:///{path}"
                        else:
                            url = pg_url
                        print(f"round {round_number + 1}: {database}, {label}", file=sys.stderr, flush=True)
                        results.setdefault((database, label), []).append(
                            _measure(python, database, url, arguments.calls)
                        )
        finally:
            if pg_url:
                asyncio.run(_scratch_postgres(server, scratch, drop=True))
    _report(results, trees, databases, arguments)


def _report(
    results: dict[tuple[str, str], list[dict[str, float]]],
    trees: list[tuple[str, str]],
    databases: list[str],
    arguments: argparse.Namespace,
) -> None:
    print(f"median of {arguments.rounds} round(s), {arguments.calls} calls per operation and round; uvloop, one core")
    for database in databases:
        labels = [label for label, _ in trees]
        header = "| operation | " + " | ".join(labels) + (" | ratio |" if len(labels) == 2 else " |")
        print(f"\n{database} (µs per call unless said otherwise)\n\n{header}")
        print("|---" * (len(labels) + 1 + (len(labels) == 2)) + "|")
        rounds = {label: results[(database, label)] for label in labels}
        for name in rounds[labels[0]][0]:
            medians = [statistics.median(r[name] for r in rounds[label]) for label in labels]
            cells = " | ".join(f"{value:,.1f}" for value in medians)
            ratio = f" | {medians[0] / medians[1]:.2f}" if len(medians) == 2 else ""
            print(f"| {name} | {cells}{ratio} |")


if __name__ == "__main__":
    main()
