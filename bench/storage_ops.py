"""Storage cost per call on SQLite and PostgreSQL, for this checkout and, in the same run, an earlier revision.

Run on purpose, never from ``make test``::

    .venv/bin/python bench/storage_ops.py                          # this tree, both databases (~1 min)
    .venv/bin/python bench/storage_ops.py --baseline 40366f8       # and the tree at 40366f8, interleaved, with ratios
    .venv/bin/python bench/storage_ops.py --databases sqlite --rounds 5 --calls 2000
    .venv/bin/python bench/storage_ops.py --baseline 40366f8 --instructions     # valgrind counts per flow (~15 min)

What it measures: every hot store operation of the stateful grants (a client, user and SSO-session lookup, a
session touch, an authorization request's life, a code's issue and redemption, a refresh family's start from a
code, a refresh token's lookup and rotation, the deny-list check, a consent grant, an event batch), each called
``--calls`` times one after another in one event loop under uvloop, as ``pixie serve`` runs: µs per call. Then
``concurrent refresh``: 32 tasks each doing a refresh grant's storage calls (token with family and user, rotation,
deny-list check), per grant. Every figure is given as wall-clock and as CPU µs of the measuring process: the CPU
figure is Pixie's own cost (the database server's is not in it) and is steadier when the machine is busy.

``--instructions`` counts instead of timing: each flow's storage calls (``lookups``: client, user, deny list;
``sso``: an SSO sign-in from the session lookup to the refresh family; ``refresh``: a refresh grant's;
``consent+event``) run in a process under ``valgrind --tool=callgrind`` ``N`` and ``2N`` times, and the difference
over ``N`` is the cost of one run in instructions of this process: the same on every run, whatever else the machine
does.

Method: each (tree, database, round) runs in a fresh process pinned to core 0 (``taskset``, when there), with
PostgreSQL and everything else left to the other core. The rounds alternate the trees, so a change of the machine's
speed during the run hits both alike; each figure is the median of its rounds, and the ratio is this tree's figure
over the baseline's (below 1: this tree is faster). The baseline runs in its own install of that revision
(:mod:`baseline`, shared with ``compare.py --baseline``). SQLite gets a fresh migrated file per process; PostgreSQL
a scratch database per tree for the run (``PIXIE_BENCH_POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``
names the server), emptied before each process.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
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


async def _timed(calls: list[Callable[[], Awaitable[object]]]) -> tuple[float, float]:
    """Wall-clock and CPU µs per call of running ``calls`` one after the other (CPU: this process's own, which other
    load on the machine does not inflate; on PostgreSQL the server's work is in the wall time only)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for call in calls:
        await call()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall / len(calls) * 1e6, cpu / len(calls) * 1e6


async def _operations(storage: Any, n: int) -> dict[str, tuple[float, float]]:
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


async def _concurrent_refresh(storage: Any, grants: int, tasks: int = 32) -> dict[str, tuple[float, float]]:
    """``tasks`` concurrent chains of refresh grants: wall and CPU µs per grant (of this process)."""
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
    return {"concurrent refresh (per grant)": (wall / done * 1e6, cpu / done * 1e6)}


async def _count_flow(storage: Any, flow: str, iterations: int) -> None:
    """``iterations`` runs of one flow's storage calls, one after the other (for ``--instructions``)."""
    from pixie.storage.records import Event, RefreshFamily

    session_hash = await _seed(storage)
    s = storage
    family = _family(RefreshFamily)
    head = _token(family.family_id)
    await s.refresh.create_family(family, head)
    event = Event(tenant_id=TENANT, kind="token_issued", outcome="success", created_at=NOW, client_id="bench")
    for index in range(iterations):
        if flow == "lookups":  # what every request reads: client, user, deny list
            await s.clients.get(TENANT, "bench")
            await s.users.get(TENANT, "u1")
            await s.denylist.is_denied(TENANT, "denied")
        elif flow == "sso":  # an SSO sign-in's storage, authorize to token
            await s.sessions.get_signed_in(TENANT, session_hash, "bench")
            await s.sessions.touch(TENANT, session_hash, NOW + 1 + index)
            request = _request()
            await s.requests.create(request)
            await s.requests.get(TENANT, request.request_id, NOW)
            await s.requests.delete(TENANT, request.request_id)
            code = _code()
            await s.codes.create(code)
            await s.codes.redeem(TENANT, code.code_hash, NOW)
            started = _family(RefreshFamily)
            await s.refresh.create_family(started, _token(started.family_id), from_code=code.code_hash)
        elif flow == "refresh":  # a refresh grant's storage
            found = await s.refresh.get_with_user(TENANT, head.token_hash)
            successor = _token(found[0].family_id)
            await s.refresh.rotate(TENANT, head.token_hash, successor, NOW + 1)
            await s.denylist.is_denied(TENANT, head.access_jti)
            head = successor
        elif flow == "consent+event":
            await s.consents.grant(TENANT, "u1", "bench", ["api:read"], NOW)
            await s.events.append([event])
        else:
            raise SystemExit(f"no flow {flow!r}")


FLOWS = ("lookups", "sso", "refresh", "consent+event")


async def _empty_postgres(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        await connection.execute("TRUNCATE " + ", ".join(row[0] for row in tables))
    finally:
        await connection.close()


async def _worker(database: str, url: str, calls: int) -> dict[str, tuple[float, float]]:
    async with _open(url) as storage:
        if database == "postgresql":
            await _empty_postgres(url)
        results = await _operations(storage, calls)
        results.update(await _concurrent_refresh(storage, grants=calls * 2))
    return results


def _run_worker(arguments: argparse.Namespace) -> None:
    import uvloop

    if arguments.migrate_only:
        uvloop.run(_migrate_only(arguments.url))
        return
    if arguments.flow:
        uvloop.run(_counted(arguments.database, arguments.url, arguments.flow, arguments.calls))
        return
    results = uvloop.run(_worker(arguments.database, arguments.url, arguments.calls))
    print(json.dumps(results))


async def _migrate_only(url: str) -> None:
    async with _open(url):
        pass


async def _counted(database: str, url: str, flow: str, iterations: int) -> None:
    # The SQLite driver also checkpoints once a second while writing. Under valgrind, fifty times slower, that would
    # add checkpoints (on a thread of their own, counted too) in proportion to the slowdown, at moments that vary
    # from run to run; counted runs checkpoint by commits only, as a loaded server does.
    from pixie.storage.sqlite import database as sqlite_database

    sqlite_database._CHECKPOINT_INTERVAL_SECONDS = float("inf")  # type: ignore[attr-defined]
    async with _open(url) as storage:
        if database == "postgresql":
            await _empty_postgres(url)
        await _count_flow(storage, flow, iterations)


# --- the parent: trees, databases, rounds ----------------------------------------------------------------------


def _pinned() -> list[str]:
    return ["taskset", "-c", "0"] if (os.cpu_count() or 1) >= 2 and shutil.which("taskset") else []


def _migrate(python: str, url: str) -> None:
    """Create or migrate the database at ``url`` with the tree that ``python`` runs (a tree opens only a database
    at a schema revision it knows, so each tree has databases of its own)."""
    subprocess.run([python, __file__, "--worker", "--migrate-only", "--url", url], check=True)


def _measure(python: str, database: str, url: str, calls: int) -> dict[str, list[float]]:
    command = [*_pinned(), python, __file__, "--worker", "--database", database, "--url", url]
    command += ["--calls", str(calls)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
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
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count CPU instructions per flow with valgrind instead of timing each operation (slow, exact)",
    )
    parser.add_argument("--iterations", type=int, default=200, help="with --instructions: runs of each flow")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--flow", help=argparse.SUPPRESS)
    parser.add_argument("--migrate-only", action="store_true", help=argparse.SUPPRESS)
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
    scratch = {label: f"pixie_bench_{secrets.token_hex(4)}" for label, _ in trees}
    with tempfile.TemporaryDirectory() as directory:
        templates: dict[str, Path] = {}
        pg_urls: dict[str, str] = {}
        for label, python in trees:
            if "sqlite" in databases:
                templates[label] = Path(directory) / f"template-{secrets.token_hex(4)}.db"
                _migrate(python, f"sqlite:///{templates[label]}")
            if "postgresql" in databases:
                pg_urls[label] = asyncio.run(_scratch_postgres(server, scratch[label]))
                _migrate(python, pg_urls[label])

        def fresh(database: str, label: str) -> str:
            """A fresh SQLite file of the tree's schema, or the tree's PostgreSQL database (the worker empties it)."""
            if database == "postgresql":
                return pg_urls[label]
            path = Path(directory) / f"{secrets.token_hex(4)}.db"
            shutil.copyfile(templates[label], path)
            return f"sqlite:///{path}"

        try:
            if arguments.instructions:
                _report_instructions(_count_all(trees, databases, fresh, arguments.iterations), trees, databases)
                return
            results: dict[tuple[str, str], list[dict[str, list[float]]]] = {}
            for round_number in range(arguments.rounds):
                order = trees if round_number % 2 == 0 else trees[::-1]
                for database in databases:
                    for label, python in order:
                        print(f"round {round_number + 1}: {database}, {label}", file=sys.stderr, flush=True)
                        measured = _measure(python, database, fresh(database, label), arguments.calls)
                        results.setdefault((database, label), []).append(measured)
        finally:
            for label in pg_urls:
                asyncio.run(_scratch_postgres(server, scratch[label], drop=True))
    _report(results, trees, databases, arguments)


def _instructions(python: str, database: str, url: str, flow: str, iterations: int) -> int:
    """Instructions valgrind counts for the whole worker process running ``flow`` ``iterations`` times."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", python, __file__, "--worker"]
    command += ["--database", database, "--url", url, "--flow", flow, "--calls", str(iterations)]
    # A fixed hash seed: with a random one, dictionaries and sets lay out differently and the count moves by a few %.
    done = subprocess.run(
        command, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"valgrind reported no count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def _count_all(
    trees: list[tuple[str, str]], databases: list[str], fresh: Callable[[str, str], str], iterations: int
) -> dict[tuple[str, str, str], float]:
    """Per (database, tree, flow): instructions per run of the flow, as the difference between a process that runs
    it ``2 * iterations`` times and one that runs it ``iterations`` times (start-up and set-up cancel out)."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    counts: dict[tuple[str, str, str], float] = {}
    for database in databases:
        for flow in FLOWS:
            for label, python in trees:
                print(f"counting {database}, {flow}, {label}", file=sys.stderr, flush=True)
                short = _instructions(python, database, fresh(database, label), flow, iterations)
                long = _instructions(python, database, fresh(database, label), flow, 2 * iterations)
                counts[(database, label, flow)] = (long - short) / iterations
    return counts


def _report_instructions(
    counts: dict[tuple[str, str, str], float], trees: list[tuple[str, str]], databases: list[str]
) -> None:
    labels = [label for label, _ in trees]
    print("thousands of CPU instructions per run of each flow's storage calls (valgrind; this process only)")
    for database in databases:
        header = "| flow | " + " | ".join(labels) + (" | ratio |" if len(labels) == 2 else " |")
        print(f"\n{database}\n\n{header}")
        print("|---" + "|---:" * (len(labels) + (len(labels) == 2)) + "|")
        for flow in FLOWS:
            values = [counts[(database, label, flow)] for label in labels]
            cells = " | ".join(f"{value / 1000:,.1f}" for value in values)
            ratio = f" | {values[0] / values[1]:.3f}" if len(values) == 2 else ""
            print(f"| {flow} | {cells}{ratio} |")


def _report(
    results: dict[tuple[str, str], list[dict[str, list[float]]]],
    trees: list[tuple[str, str]],
    databases: list[str],
    arguments: argparse.Namespace,
) -> None:
    labels = [label for label, _ in trees]
    print(f"median of {arguments.rounds} round(s), {arguments.calls} calls per operation and round; uvloop, one core")
    print(
        "µs per call: wall clock / CPU of the process"
        + (f"; ratio of CPU, {labels[0]} / {labels[1]}" if len(labels) == 2 else "")
    )
    for database in databases:
        header = "| operation | " + " | ".join(labels) + (" | ratio |" if len(labels) == 2 else " |")
        print(f"\n{database}\n\n{header}")
        print("|---" + "|---:" * (len(labels) + (len(labels) == 2)) + "|")
        rounds = {label: results[(database, label)] for label in labels}
        for name in rounds[labels[0]][0]:
            walls = [statistics.median(r[name][0] for r in rounds[label]) for label in labels]
            cpus = [statistics.median(r[name][1] for r in rounds[label]) for label in labels]
            cells = " | ".join(f"{wall:,.1f} / {cpu:,.1f}" for wall, cpu in zip(walls, cpus, strict=True))
            ratio = f" | {cpus[0] / cpus[1]:.2f}" if len(cpus) == 2 else ""
            print(f"| {name} | {cells}{ratio} |")


if __name__ == "__main__":
    main()
