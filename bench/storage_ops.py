"""Storage cost per call: the SQLAlchemy stores against the lean backends, ``pixie.storage.sqlite`` on SQLite and
``pixie.storage.pg`` (asyncpg) on PostgreSQL (issue 10).

Run on purpose, never from ``make test``::

    .venv/bin/python bench/storage_ops.py                 # µs per call on SQLite, both backends, same run (~20 s)
    .venv/bin/python bench/storage_ops.py --quick         # fewer calls
    .venv/bin/python bench/storage_ops.py pg [--quick]    # µs per call on PostgreSQL, both backends (~30 s)
    taskset -c 0 .venv/bin/python bench/storage_ops.py models   # concurrency models (a)/(b)/(c) on one core
    .venv/bin/python bench/storage_ops.py e2e --before /tmp/pixie-baseline/src [--scenarios refresh,sso]
    .venv/bin/python bench/storage_ops.py e2e --compare writer-thread=/tmp/variant/src   # any other tree too

``ops`` (the default) times the hot operations of every stateful grant, sequentially in one event loop, on a
migrated SQLite file per backend (WAL, ``synchronous=NORMAL``): median of 3 rounds, µs per call. For context it
also times a raw ``sqlite3`` point read, the same through ``aiosqlite``, and a bare thread hand-off
(``run_in_executor`` of a no-op): the costs that decided the lean backend's concurrency model.

``pg`` does the same on a scratch database of the PostgreSQL at ``PIXIE_BENCH_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``), under uvloop as ``pixie serve`` runs: the SQLAlchemy stores against
the asyncpg backend, with a raw asyncpg point read for context, then 32 concurrent refresh grants' storage calls on
each (grants/s and CPU µs per grant, this process pinned to one core when ``taskset`` is there).

``models`` runs 32 concurrent refresh grants' storage calls against the backend under three concurrency models —
(a) inline on the loop (chosen), (b) writes on a writer thread, (c) every statement on a thread (aiosqlite's way) —
and prints grants/s and CPU µs per grant; pin it to one core as the server would be. A last row runs model (a)
in two processes on one file, pinned to cores 0 and 1: the storage ceiling of ``pixie serve --workers 2``.

``e2e`` starts ``pixie serve`` pinned to core 0 (``taskset -c 0``) from this tree and, with ``--before SRC``, from
another source tree (e.g. ``git archive <rev> src | tar -x -C /tmp/pixie-baseline``), registers the bench clients,
and runs the peers' load generator (``bench/.peers/bench.py``) pinned to core 1, alternating the two servers per
scenario. It prints ops/s, p50/p99 and errors per scenario and server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiosqlite

from pixie.storage.interfaces import Storage
from pixie.storage.records import (
    AuthorizationCode,
    AuthorizationRequest,
    Client,
    Event,
    RefreshFamily,
    RefreshToken,
    SigningKey,
    SsoSession,
    Tenant,
    User,
)
from pixie.storage.sql import create_engine, migrate
from pixie.types import KeyState

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "bench" / ".peers"
TENANT = "default"
NOW = time.time()
REDIRECT = "http://127.0.0.1:9999/cb"


def _hash() -> str:
    return secrets.token_hex(32)


# --- the SQLAlchemy stores as they served SQLite before the lean backend ----------------------------------------


def _sqlalchemy_storage(engine: Any) -> Storage:
    from pixie.storage.sql.authorization import SqlAuthorizationRequestStore, SqlCodeStore
    from pixie.storage.sql.directory import SqlClientStore, SqlTenantStore, SqlUserStore
    from pixie.storage.sql.events import SqlEventStore
    from pixie.storage.sql.keys import SqlKeyStore
    from pixie.storage.sql.refresh import SqlAccessTokenDenyList, SqlRefreshTokenStore
    from pixie.storage.sql.sessions import SqlConsentStore, SqlSessionStore

    stores: dict[str, Any] = {
        "tenants": SqlTenantStore,
        "clients": SqlClientStore,
        "users": SqlUserStore,
        "sessions": SqlSessionStore,
        "consents": SqlConsentStore,
        "requests": SqlAuthorizationRequestStore,
        "codes": SqlCodeStore,
        "refresh": SqlRefreshTokenStore,
        "denylist": SqlAccessTokenDenyList,
        "keys": SqlKeyStore,
        "events": SqlEventStore,
    }
    # Sequential use needs no write gate (it only queued concurrent writers in one process).
    return Storage(**{name: cls(engine) for name, cls in stores.items()})


# --- records ---------------------------------------------------------------------------------------------------


def _request() -> AuthorizationRequest:
    return AuthorizationRequest(
        tenant_id=TENANT,
        request_id=secrets.token_urlsafe(16),
        client_id="bench-public",
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


def _code() -> AuthorizationCode:
    return AuthorizationCode(
        tenant_id=TENANT,
        code_hash=_hash(),
        client_id="bench-public",
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


def _token(family_id: str) -> RefreshToken:
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


def _event() -> Event:
    return Event(tenant_id=TENANT, kind="token", outcome="success", created_at=NOW, client_id="bench-public")


async def _seed(storage: Storage) -> tuple[str, RefreshFamily, RefreshToken]:
    await storage.tenants.create(Tenant(id=TENANT, display_name="Default", created_at=NOW))
    await storage.clients.create(
        Client(
            tenant_id=TENANT,
            client_id="bench-public",
            client_type="public",
            token_endpoint_auth_method="none",
            redirect_uris=(REDIRECT,),
            grant_types=("authorization_code", "refresh_token"),
            scopes=("api:read",),
            created_at=NOW,
        )
    )
    await storage.users.create(
        User(tenant_id=TENANT, user_id="u1", username="bench-user", password_hash="$argon2id$x", created_at=NOW)
    )
    for index in range(2):
        await storage.keys.add(
            SigningKey(
                tenant_id=TENANT,
                kid=f"kid-{index}",
                alg="ES256",
                state=KeyState.ACTIVE if index == 0 else KeyState.NEXT,
                private_key_encrypted=secrets.token_bytes(120),
                public_jwk={"kty": "EC", "crv": "P-256", "x": "x" * 43, "y": "y" * 43},
                created_at=NOW + index,
            )
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
    family = RefreshFamily(
        tenant_id=TENANT,
        family_id=secrets.token_urlsafe(16),
        client_id="bench-public",
        user_id="u1",
        scopes=("api:read",),
        auth_time=NOW,
        created_at=NOW,
        absolute_expires_at=NOW + 90 * 86400,
    )
    first = _token(family.family_id)
    await storage.refresh.create_family(family, first)
    await storage.denylist.deny(TENANT, "denied-jti", NOW + 300)
    return session_hash, family, first


# --- timing ----------------------------------------------------------------------------------------------------


async def _timed(calls: list[Callable[[], Awaitable[object]]]) -> float:
    """µs per call of running ``calls`` one after the other."""
    start = time.perf_counter()
    for call in calls:
        await call()
    return (time.perf_counter() - start) / len(calls) * 1e6


async def measure(storage: Storage, n: int) -> dict[str, float]:
    """One round: µs per call of every hot operation, ``n`` calls each (events: ``n // 50`` batches of 500)."""
    session_hash, family, first = await _seed(storage)
    s, results = storage, {}

    results["clients.get"] = await _timed([lambda: s.clients.get(TENANT, "bench-public")] * n)
    results["users.get"] = await _timed([lambda: s.users.get(TENANT, "u1")] * n)
    results["sessions.get"] = await _timed([lambda: s.sessions.get(TENANT, session_hash)] * n)
    results["sessions.touch"] = await _timed(
        [lambda i=i: s.sessions.touch(TENANT, session_hash, NOW + 1 + i) for i in range(n)]  # type: ignore[misc]
    )
    requests = [_request() for _ in range(n)]
    results["requests.create"] = await _timed([lambda r=r: s.requests.create(r) for r in requests])  # type: ignore[misc]
    results["requests.get"] = await _timed(
        [lambda r=r: s.requests.get(TENANT, r.request_id, NOW) for r in requests]  # type: ignore[misc]
    )
    results["requests.delete"] = await _timed(
        [lambda r=r: s.requests.delete(TENANT, r.request_id) for r in requests]  # type: ignore[misc]
    )
    codes = [_code() for _ in range(n)]
    results["codes.create"] = await _timed([lambda c=c: s.codes.create(c) for c in codes])  # type: ignore[misc]
    results["codes.redeem"] = await _timed(
        [lambda c=c: s.codes.redeem(TENANT, c.code_hash, NOW) for c in codes]  # type: ignore[misc]
    )
    results["refresh.get"] = await _timed([lambda: s.refresh.get(TENANT, first.token_hash)] * n)
    chain = [first] + [_token(family.family_id) for _ in range(n)]
    results["refresh.rotate"] = await _timed(
        [
            lambda a=a, b=b: s.refresh.rotate(TENANT, a.token_hash, b, NOW + 1, retry_response=b"x" * 200)  # type: ignore[misc]
            for a, b in itertools.pairwise(chain)
        ]
    )
    results["denylist.is_denied"] = await _timed([lambda: s.denylist.is_denied(TENANT, "denied-jti")] * n)
    results["keys.list"] = await _timed([lambda: s.keys.list(TENANT)] * n)
    batch = [_event() for _ in range(500)]
    results["events.append(500)"] = await _timed([lambda: s.events.append(batch)] * max(2, n // 50))
    return results


def _fresh_file(template: Path, directory: Path, name: str) -> Path:
    path = directory / name
    shutil.copyfile(template, path)
    return path


async def _context(path: Path, n: int) -> dict[str, float]:
    """Raw costs that decide a concurrency model: a point read inline, through aiosqlite, a bare thread hop."""
    out: dict[str, float] = {}
    from pixie.storage.sqlite import open_sqlite_storage

    with open_sqlite_storage(str(path)) as storage:
        session_hash, _, _ = await _seed(storage)
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA synchronous = NORMAL")
    sql = "SELECT * FROM clients WHERE tenant_id = ? AND client_id = ?"
    start = time.perf_counter()
    for _ in range(n):
        raw.execute(sql, (TENANT, "bench-public")).fetchone()
    out["raw sqlite3 point read"] = (time.perf_counter() - start) / n * 1e6
    start = time.perf_counter()
    for i in range(n):
        raw.execute("BEGIN IMMEDIATE")
        raw.execute(
            "UPDATE sso_sessions SET last_seen_at = ? WHERE tenant_id = ? AND session_hash = ?",
            (NOW + i, TENANT, session_hash),
        )
        raw.execute("COMMIT")
    out["raw sqlite3 committed write (WAL, NORMAL)"] = (time.perf_counter() - start) / n * 1e6
    raw.close()
    async with aiosqlite.connect(path) as db:
        start = time.perf_counter()
        for _ in range(n):
            async with db.execute(sql, (TENANT, "bench-public")) as cursor:
                await cursor.fetchone()
        out["aiosqlite point read"] = (time.perf_counter() - start) / n * 1e6
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    for _ in range(n):
        await loop.run_in_executor(None, int)
    out["thread hand-off (run_in_executor no-op)"] = (time.perf_counter() - start) / n * 1e6
    return out


def _writer_thread_database(path: str) -> Any:
    """Concurrency model (b), for comparison: the same backend with every write handed to its worker thread (one
    writer connection), reads inline on the loop."""
    from pixie.storage.sqlite import Database

    class WriterThreadDatabase(Database):
        async def write(self, work: Any) -> Any:
            return await self.offload(work, write=True)

    return WriterThreadDatabase(path)


async def run_ops(quick: bool) -> None:
    from pixie.storage.sqlite import Database, build_sqlite_storage

    rounds, n_new, n_old = (1, 300, 40) if quick else (3, 1500, 150)
    columns: dict[str, list[dict[str, float]]] = {"old": [], "inline": [], "writer": []}
    with tempfile.TemporaryDirectory(prefix="pixie-storage-ops-") as tmp:
        directory = Path(tmp)
        template = directory / "template.db"
        engine = create_engine(f"sqlite:///{template}")
        await migrate(engine)
        await engine.dispose()
        for round_number in range(rounds):
            path = _fresh_file(template, directory, f"old-{round_number}.db")
            engine = create_engine(f"sqlite:///{path}")
            try:
                columns["old"].append(await measure(_sqlalchemy_storage(engine), n_old))
            finally:
                await engine.dispose()
            for model, factory in (("inline", Database), ("writer", _writer_thread_database)):
                db = factory(str(_fresh_file(template, directory, f"{model}-{round_number}.db")))
                try:
                    columns[model].append(await measure(build_sqlite_storage(db), n_new))
                finally:
                    db.close()
        context = await _context(_fresh_file(template, directory, "raw.db"), n_new)
    print(f"µs per call, median of {rounds} round(s); SQLite file, WAL, synchronous=NORMAL\n")
    print(
        "| operation | SQLAlchemy + aiosqlite | lean, inline on the loop | lean, writes on a writer thread | speed-up |"
    )
    print("|---|---:|---:|---:|---:|")
    for name in columns["old"][0]:
        before, inline, writer = (statistics.median(r[name] for r in columns[c]) for c in ("old", "inline", "writer"))
        print(f"| {name} | {before:,.1f} | {inline:,.1f} | {writer:,.1f} | {before / inline:.0f}x |")
    print("\n| context | µs |\n|---|---:|")
    for name, value in context.items():
        print(f"| {name} | {value:,.1f} |")


# --- concurrency models under concurrent load ---------------------------------------------------------------


def _thread_models() -> dict[str, Any]:
    """The chosen model (a) and the alternatives (b) writes on a writer thread, (c) every statement on a thread
    (aiosqlite's model: one thread per connection, each call handed over and back)."""
    from pixie.storage.sqlite import Database

    class WriterThread(Database):
        async def write(self, work: Any) -> Any:
            return await self.offload(work, write=True)

    class AllOnThread(WriterThread):
        async def read(self, work: Any) -> Any:
            return await self.offload(work, write=False)

    return {"(a) inline on the loop": Database, "(b) writer thread": WriterThread, "(c) all on a thread": AllOnThread}


async def _grant_load(
    db: Any, seconds: float, *, tag: str = "load", wait: Callable[[], None] | None = None
) -> tuple[float, float]:
    """32 concurrent refresh grants' storage calls (refresh.get, users.get, rotate, deny-list check) for
    ``seconds``: grants/s and CPU µs per grant (user + system, all threads of this process). With ``wait``, the
    database is already seeded and the load starts when ``wait`` returns (several processes at once)."""
    from pixie.storage.sqlite import build_sqlite_storage

    storage = build_sqlite_storage(db)
    return await _grant_load_on(storage, seconds, tag=tag, wait=wait)


async def _grant_load_on(
    storage: Storage, seconds: float, *, tag: str = "load", wait: Callable[[], None] | None = None
) -> tuple[float, float]:
    """:func:`_grant_load` on any backend's stores."""
    import resource

    if wait is None:
        await _seed(storage)
    chains = []
    for index in range(32):
        family = RefreshFamily(
            tenant_id=TENANT,
            family_id=f"{tag}-{index}",
            client_id="bench-public",
            user_id="u1",
            scopes=("api:read",),
            auth_time=NOW,
            created_at=NOW,
            absolute_expires_at=NOW + 86400,
        )
        first = _token(family.family_id)
        await storage.refresh.create_family(family, first)
        chains.append(first)
    if wait is not None:
        wait()
    done = 0
    stop = time.monotonic() + seconds

    async def grants(token: RefreshToken) -> None:
        nonlocal done
        while time.monotonic() < stop:
            await storage.refresh.get(TENANT, token.token_hash)
            await storage.users.get(TENANT, "u1")
            successor = _token(token.family_id)
            rotation = await storage.refresh.rotate(TENANT, token.token_hash, successor, NOW + 1, retry_response=b"x")
            assert rotation.status == "rotated", rotation.status
            await storage.denylist.is_denied(TENANT, "some-jti")
            token, done = successor, done + 1

    before, started = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    await asyncio.gather(*(grants(first) for first in chains))
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - started
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return done / wall, cpu / done * 1e6


async def run_models(quick: bool) -> None:
    """Run pinned to one core (``taskset -c 0``) to model ``pixie serve`` on one core."""
    rounds, seconds = (1, 1.0) if quick else (3, 3.0)
    results: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="pixie-models-") as tmp:
        directory = Path(tmp)
        template = directory / "template.db"
        engine = create_engine(f"sqlite:///{template}")
        await migrate(engine)
        await engine.dispose()
        for round_number in range(rounds):
            for name, factory in _thread_models().items():
                db = factory(str(_fresh_file(template, directory, f"m{round_number}-{len(results)}.db")))
                try:
                    results.setdefault(name, []).append(await _grant_load(db, seconds))
                finally:
                    db.close()
        for round_number in range(rounds):
            results.setdefault("(a) in 2 processes on one file (cores 0 and 1)", []).append(
                await _two_processes(_fresh_file(template, directory, f"mp{round_number}.db"), seconds)
            )
    print(f"32 concurrent refresh grants' storage calls per process, median of {rounds} round(s) x {seconds:g} s\n")
    print("| concurrency model | grants/s | CPU µs per grant |\n|---|---:|---:|")
    for name, runs in results.items():
        rate = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"| {name} | {rate:,.0f} | {cpu:,.0f} |")


async def _two_processes(path: Path, seconds: float) -> tuple[float, float]:
    """The inline model in two processes on one file (``pixie serve --workers 2``): combined grants/s, mean CPU."""
    from pixie.storage.sqlite import open_sqlite_storage

    with open_sqlite_storage(str(path)) as storage:
        await _seed(storage)
    go = path.with_suffix(".go")
    workers = [
        await asyncio.create_subprocess_exec(
            *_pin(str(core)),
            sys.executable,
            __file__,
            "_load",
            str(path),
            str(go),
            f"p{core}",
            str(seconds),
            stdout=asyncio.subprocess.PIPE,
        )
        for core in (0, 1)
    ]
    await asyncio.sleep(1.0)  # both started and connected
    go.touch()
    outputs = [json.loads((await worker.communicate())[0]) for worker in workers]
    return sum(rate for rate, _ in outputs), statistics.mean(cpu for _, cpu in outputs)


def _wait_for_file(path: Path) -> None:
    while not path.exists():
        time.sleep(0.001)


async def _load_process(path: str, go: str, tag: str, seconds: float) -> None:
    from pixie.storage.sqlite import Database

    db = Database(path)
    try:
        print(json.dumps(await _grant_load(db, seconds, tag=tag, wait=lambda: _wait_for_file(Path(go)))))
    finally:
        db.close()


# --- end to end ------------------------------------------------------------------------------------------------


def _pin(core: str) -> list[str]:
    return ["taskset", "-c", core] if (os.cpu_count() or 1) >= 2 and shutil.which("taskset") else []


def _pixie(src: Path | None) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXIE_")}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return [sys.executable, "-c", "from pixie.cli.main import main; main()"], env


@contextlib.contextmanager
def _server(label: str, src: Path | None, port: int, workdir: Path, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    command, env = _pixie(src)
    env.update(
        {
            "PIXIE_DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
            "PIXIE_SECRET_FILE": str(workdir / "pixie.secret"),
            "PIXIE_RATE_LIMIT_TOKEN_CLIENT": "10000000/minute",
            "PIXIE_RATE_LIMIT_TOKEN_IP": "10000000/minute",
        }
    )
    grants = ["--grant-type", "authorization_code", "--grant-type", "refresh_token"]
    for args in (
        [
            "clients",
            "create",
            "bench-confidential",
            "--secret",
            "bench-secret",
            "--redirect-uri",
            REDIRECT,
            *grants,
            "--grant-type",
            "client_credentials",
            "--scope",
            "api:read",
        ],
        ["clients", "create", "bench-public", "--public", "--redirect-uri", REDIRECT, *grants, "--scope", "api:read"],
    ):
        subprocess.run([*command, *args], env=env, capture_output=True, check=True)
    subprocess.run(
        [*command, "users", "create", "bench-user", "--password-stdin"],
        env=env,
        input=b"bench-password\n",
        capture_output=True,
        check=True,
    )
    log = (workdir / "server.log").open("wb")
    pin = _pin("0") if workers == 1 else []
    serve = [*pin, *command, "serve", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(serve, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server", timeout=2)
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"{label} did not start; see {workdir / 'server.log'}")
            time.sleep(0.2)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
        log.close()
        problems = [
            line for line in (workdir / "server.log").read_text().splitlines() if "WARNING" in line or "ERROR" in line
        ]
        if problems:
            print(
                f"{label}: {len(problems)} warning/error line(s) in the server log, first: {problems[0]}",
                file=sys.stderr,
            )


def run_e2e(args: argparse.Namespace) -> None:
    python = PEERS / ".venv" / "bin" / "python"
    if not python.exists():
        subprocess.run(["bash", str(PEERS / "setup.sh")], check=True)
    trees: list[tuple[str, Path | None]] = [("after", None)]
    if args.before:
        trees.insert(0, ("before", Path(args.before).resolve()))
    for entry in args.compare:
        label, _, src = entry.partition("=")
        trees.append((label, Path(src).resolve()))
    scenarios = [s for s in args.scenarios.split(",") if s]
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="pixie-e2e-") as tmp, contextlib.ExitStack() as stack:
        servers = {}
        for index, (label, src) in enumerate(trees):
            workdir = Path(tmp) / label
            workdir.mkdir()
            port = args.port + index
            process = stack.enter_context(_server(label, src, port, workdir, args.workers))
            servers[label] = (port, process)
        out = Path(tmp) / "raw.jsonl"
        for _ in range(args.runs):
            for scenario in scenarios:
                for label, (port, process) in servers.items():
                    print(f"{scenario:<10} {label}", file=sys.stderr)
                    out.unlink(missing_ok=True)
                    subprocess.run(
                        [
                            *_pin("1"),
                            str(python),
                            str(PEERS / "bench.py"),
                            "--issuer",
                            f"http://127.0.0.1:{port}",
                            "--server-pid",
                            str(process.pid),
                            "--scenarios",
                            scenario,
                            "-c",
                            "32",
                            "-t",
                            str(args.duration),
                            "--warmup",
                            "1",
                            "--runs",
                            "1",
                            "--pause",
                            "0",
                            "--label",
                            label,
                            "--out",
                            str(out),
                            "--introspect-token",
                            "refresh_token",
                        ],
                        check=True,
                        stdout=subprocess.DEVNULL,
                    )
                    for line in out.read_text().splitlines():
                        results.setdefault((scenario, label), []).append(json.loads(line))
    placement = "server on core 0" if args.workers == 1 else f"server --workers {args.workers}, unpinned"
    print(f"\n{args.runs} run(s) x {args.duration:g} s, 32 concurrent clients, {placement}, load on core 1\n")
    print("| scenario | server | ops/s | p50 ms | p99 ms | errors | server CPU | load-generator CPU |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (scenario, label), runs in results.items():
        ops = statistics.median(r["ops_per_s"] for r in runs)
        p50 = statistics.median(r["p50_ms"] for r in runs)
        p99 = statistics.median(r["p99_ms"] for r in runs)
        errors = sum(int(r.get("errors") or 0) for r in runs)
        cpu = statistics.median(float(r.get("server_cpu") or 0) for r in runs)
        loadgen = statistics.median(float(r.get("loadgen_cpu") or 0) for r in runs)
        print(f"| {scenario} | {label} | {ops:,.0f} | {p50:.1f} | {p99:.1f} | {errors} | {cpu:.2f} | {loadgen:.2f} |")


# --- PostgreSQL ------------------------------------------------------------------------------------------------


def _pg_server() -> str:
    return os.environ.get("PIXIE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextlib.asynccontextmanager
async def _pg_scratch_database() -> Any:
    """A migrated database of its own on the bench server (libpq URL), dropped at the end."""
    import asyncpg
    from sqlalchemy.engine import make_url

    server = make_url(_pg_server())
    name = f"pixie_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server.render_as_string(hide_password=False))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()
        yield url
    finally:
        admin = await asyncpg.connect(server.render_as_string(hide_password=False))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _pg_empty(url: str) -> None:
    import asyncpg

    from pixie.storage.sql.tables import metadata

    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f"TRUNCATE {', '.join(table.name for table in metadata.sorted_tables)}")
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def _pg_raw_read(url: str, n: int) -> float:
    """One asyncpg connection, one prepared point read: the floor under any backend."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        sql = "SELECT * FROM clients WHERE tenant_id = $1 AND client_id = $2"
        await connection.fetchrow(sql, TENANT, "bench-public")
        start = time.perf_counter()
        for _ in range(n):
            await connection.fetchrow(sql, TENANT, "bench-public")
        return (time.perf_counter() - start) / n * 1e6
    finally:
        await connection.close()


async def run_pg_ops(quick: bool) -> None:
    from pixie.storage.pg import open_pg_storage

    rounds, n_new, n_old, seconds = (1, 300, 100, 1.0) if quick else (3, 1000, 300, 3.0)
    columns: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    loads: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}

    async def on_both(
        into: dict[str, list[Any]], old: Callable[[Storage], Awaitable[Any]], new: Callable[[Storage], Awaitable[Any]]
    ) -> None:
        """One round: ``old`` on the SQLAlchemy stores, then ``new`` on pixie.storage.pg, each on emptied tables."""
        await _pg_empty(url)
        engine = create_engine(url)
        try:
            into["old"].append(await old(_sqlalchemy_storage(engine)))
        finally:
            await engine.dispose()
        await _pg_empty(url)
        async with open_pg_storage(url) as storage:
            into["new"].append(await new(storage))

    async with _pg_scratch_database() as url:
        for _ in range(rounds):
            await on_both(columns, lambda s: measure(s, n_old), lambda s: measure(s, n_new))
        raw = await _pg_raw_read(url, n_new)
        for _ in range(rounds):
            await on_both(loads, lambda s: _grant_load_on(s, seconds), lambda s: _grant_load_on(s, seconds))
    print(f"µs per call, median of {rounds} round(s); PostgreSQL on loopback, uvloop\n")
    print("| operation | SQLAlchemy + asyncpg | pixie.storage.pg (asyncpg) | speed-up |")
    print("|---|---:|---:|---:|")
    for name in columns["old"][0]:
        before, after = (statistics.median(r[name] for r in columns[c]) for c in ("old", "new"))
        print(f"| {name} | {before:,.1f} | {after:,.1f} | {before / after:.1f}x |")
    print(f"| (raw asyncpg point read, one connection) | | {raw:,.1f} | |")
    print(f"\n32 concurrent refresh grants' storage calls, median of {rounds} round(s) x {seconds:g} s\n")
    print("| backend | grants/s | CPU µs per grant |\n|---|---:|---:|")
    for label, key in (("SQLAlchemy + asyncpg", "old"), ("pixie.storage.pg", "new")):
        rate = statistics.median(r[0] for r in loads[key])
        cpu = statistics.median(r[1] for r in loads[key])
        print(f"| {label} | {rate:,.0f} | {cpu:,.0f} |")


def _run_pinned_on_uvloop(coroutine: Any) -> None:
    """As ``pixie serve`` runs: one core (when taskset is there), uvloop (when installed)."""
    if (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


def main() -> None:
    if sys.argv[1:2] == ["_load"]:  # one process of `models`' two-process row
        path, go, tag, seconds = sys.argv[2:6]
        asyncio.run(_load_process(path, go, tag, float(seconds)))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", choices=("ops", "pg", "models", "e2e"), default="ops")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--before", help="source tree (its src/ folder) of the Pixie to compare against")
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=SRC", help="another tree to run")
    parser.add_argument("--scenarios", default="refresh,sso,introspect,cc")
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="pixie serve --workers")
    parser.add_argument("--port", type=int, default=3210)
    args = parser.parse_args()
    if args.mode == "ops":
        asyncio.run(run_ops(args.quick))
    elif args.mode == "pg":
        _run_pinned_on_uvloop(run_pg_ops(args.quick))
    elif args.mode == "models":
        asyncio.run(run_models(args.quick))
    else:
        run_e2e(args)


if __name__ == "__main__":
    main()
