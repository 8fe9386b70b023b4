"""Does serving 5,000 tenants cost more per request than serving one?

Run (about 1-2 min):  .venv/bin/python bench/tenants.py [--tenants 5000] [--flows 200] [--rounds 5]
                      .venv/bin/python bench/tenants.py --database postgres

1. Seeds two databases (SQLite files; with ``--database postgres``, scratch databases of the local PostgreSQL):
   *many* with ``--tenants`` tenants made by :func:`pixie.management.create_tenants` (the same code as ``pixie
   tenants create --count``; its cost per tenant is printed), and *one* with a single tenant. Every tenant gets the
   same furniture, bulk-inserted through Pixie's own table definitions: a public client ``app``, a user ``bench``
   (one Argon2id hash computed once and shared), an SSO session under a known cookie value and a remembered
   consent.
2. Starts one ``pixie serve`` per database (separate processes, pinned to CPU 0; this driver runs on CPU 1).
3. Runs full authorization-code + PKCE flows against a tenant chosen at random for every flow (*one*: always its
   only tenant): ``GET /t/{t}/authorize`` with the tenant's SSO cookie and remembered consent → 303 with a code
   (RFC 9207 ``iss`` checked) → ``POST /t/{t}/token`` with the verifier → tokens. Each round runs ``--flows`` flows
   on each server, alternating which goes first; the figures per server are its median and its best round (on a
   shared machine a neighbour's burst lands on single rounds; the best round is the least disturbed).
4. Also a few flows with a password login (authorize → login page → login POST → code → token), whose cost is
   Argon2id's on purpose and the same for both, to show the whole flow too.

Before the rounds, every tenant of *many* is visited once, in random order: these first visits meet cold caches
(the tenant, its client and its signer are read, and its private key decrypted and parsed) and are reported on their
own. The rounds then run on warm caches, as a server that has served its tenants for a while does: the servers keep
what they read until it changes (``pixie.storage.cache``), so the ratio prices what serving 5,000 tenants costs
each request once they are known — the bigger caches, not the database. The resident memory of each server after
the rounds shows what 5,000 warm tenants hold.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import random
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import compare
import httpx
import loadgen
import sqlalchemy as sa

from pixie import pkce
from pixie.management import create_tenants, ensure_default_tenant
from pixie.passwords import hash_password
from pixie.security import hash_secret, new_id
from pixie.storage.records import Client, Consent, SsoSession, User
from pixie.storage.schema import create_engine, open_storage
from pixie.storage.schema.tables import clients, consents, sso_sessions, users
from pixie.tokens.keys import KeyRing

PIXIE = Path(sys.executable).with_name("pixie")
REDIRECT = "http://127.0.0.1:9999/cb"
PASSWORD = "bench-password-0123"
COOKIE = secrets.token_urlsafe(32)
HIDDEN = re.compile(r'name="(request|csrf_token)" value="([^"]*)"')
MASTER_KEY = b"bench-tenants-master-key-32bytes"
SCOPE = "properties:read"


@dataclass(frozen=True)
class Seeded:
    label: str
    url: str
    names: list[str]
    create_seconds: float


async def _seed(label: str, url: str, count: int, password_hash: str) -> Seeded:
    names = [f"t{i:05d}" for i in range(count)]
    async with open_storage(url) as storage:
        keyring = KeyRing(storage.keys, MASTER_KEY)
        await ensure_default_tenant(storage, keyring)
        started = time.perf_counter()
        await create_tenants(storage, keyring, names)
        create_seconds = time.perf_counter() - started
    # Each tenant's client, user, session and consent, as bulk inserts through the schema's tables.
    engine = create_engine(url)
    try:
        now = time.time()
        rows: dict[sa.Table, list[dict[str, object]]] = {clients: [], users: [], sso_sessions: [], consents: []}
        for name in names:
            user_id = new_id()
            records: list[tuple[sa.Table, object]] = [
                (
                    clients,
                    Client(
                        tenant_id=name,
                        client_id="app",
                        client_type="public",
                        token_endpoint_auth_method="none",
                        redirect_uris=(REDIRECT,),
                        grant_types=("authorization_code", "refresh_token"),
                        scopes=(SCOPE,),
                        created_at=now,
                    ),
                ),
                (users, User(name, user_id, "bench", password_hash, now)),
                (
                    sso_sessions,
                    SsoSession(name, hash_secret(COOKIE), user_id, now, now, now, 8 * 3600, now + 86400),
                ),
                (consents, Consent(name, user_id, "app", (SCOPE,), now)),
            ]
            for table, record in records:  # a record's fields are its table's columns (defaults for the rest)
                rows[table].append({column.name: getattr(record, column.name) for column in table.columns})
        async with engine.begin() as connection:
            for table, values in rows.items():
                await connection.execute(table.insert(), values)
        if engine.dialect.name == "postgresql":
            # What autovacuum does to tables that grew this much, a minute later: the servers start on statistics
            # that describe the tables they serve.
            async with engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(sa.text("ANALYZE"))
        return Seeded(label, url, names, create_seconds)
    finally:
        await engine.dispose()


def _env(workdir: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXIE_")}
    env.update(
        {
            "PIXIE_DATABASE_URL": url,
            "PIXIE_SECRET_KEY": base64.urlsafe_b64encode(MASTER_KEY).decode("ascii"),
            # One driver, one IP, one client id: limits sized for real traffic would throttle the bench.
            "PIXIE_RATE_LIMIT_TOKEN_CLIENT": "10000000/minute",
            "PIXIE_RATE_LIMIT_TOKEN_IP": "10000000/minute",
            "PIXIE_RATE_LIMIT_AUTHORIZE_IP": "10000000/minute",
            "PIXIE_RATE_LIMIT_AUTHORIZE_PENDING_IP": "10000000/minute",
            "PIXIE_RATE_LIMIT_LOGIN_IP": "10000000/minute",
        }
    )
    return env


@dataclass(frozen=True)
class Served:
    base: str
    pid: int


def _rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants, MiB (Linux /proc)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(child) for child in (task / "children").read_text().split())
    return total / 1024


@contextlib.contextmanager
def _serve(seeded: Seeded, workdir: Path) -> Iterator[Served]:
    with socket_port() as port:
        base = f"http://127.0.0.1:{port}"
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    command = [*pin, str(PIXIE), "serve", "--port", str(port), "--issuer", base]
    log = (workdir / f"{seeded.label}.log").open("w")
    process = subprocess.Popen(command, env=_env(workdir, seeded.url), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"pixie serve ({seeded.label}) did not start; see {log.name}")
            time.sleep(0.1)
        yield Served(base, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


@contextlib.contextmanager
def socket_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _flow(http: httpx.Client, base: str, tenant: str, *, login: bool) -> int:
    """One authorization-code + PKCE flow at ``tenant``; returns the number of HTTP requests it took."""
    verifier = pkce.generate_verifier()
    state = secrets.token_urlsafe(8)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": "app",
            "redirect_uri": REDIRECT,
            "scope": SCOPE,
            "state": state,
            "code_challenge": pkce.create_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    prefix = f"{base}/t/{tenant}"
    http.cookies.clear()
    headers = {} if login else {"Cookie": f"pixie-session-{tenant}={COOKIE}"}
    response = http.get(f"{prefix}/authorize?{query}", headers=headers)
    requests = 1
    if login:  # the client's jar carries the per-request CSRF cookie from here on
        assert response.status_code == 303, response.text[:200]
        page = http.get(base + response.headers["location"])
        fields = dict(HIDDEN.findall(page.text))
        response = http.post(f"{prefix}/login", data={**fields, "username": "bench", "password": PASSWORD})
        requests += 2
    assert response.status_code == 303, (response.status_code, response.text[:200])
    params = parse_qs(urlsplit(response.headers["location"]).query)
    assert params["state"] == [state] and params["iss"] == [prefix], params
    token = http.post(
        f"{prefix}/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"][0],
            "code_verifier": verifier,
            "client_id": "app",
            "redirect_uri": REDIRECT,
        },
    )
    assert token.status_code == 200, token.text[:200]
    return requests + 1


def _round(http: httpx.Client, base: str, names: list[str], flows: int, *, login: bool = False) -> float:
    """Milliseconds per request over ``flows`` flows, each at a random tenant of ``names``."""
    started = time.perf_counter()
    requests = sum(_flow(http, base, random.choice(names), login=login) for _ in range(flows))
    return (time.perf_counter() - started) * 1000 / requests


@dataclass
class Costs:
    """Per server: wall time and CPU (the server's, and the database server's when it has one) per request."""

    ms: list[float]
    server_us: list[float]
    database_us: list[float]


def _measured_round(
    http: httpx.Client, served: Served, names: list[str], flows: int, database_pid: int, costs: Costs
) -> None:
    """A :func:`_round`, with the CPU the server and PostgreSQL spent on it: steadier than wall time on a shared
    machine (the two servers take turns, so PostgreSQL's CPU in a round is this server's)."""
    server, database = loadgen.tree_cpu(served.pid), loadgen.tree_cpu(database_pid) if database_pid else 0.0
    requests_before = time.perf_counter()
    ms = _round(http, served.base, names, flows)
    requests = (time.perf_counter() - requests_before) * 1000 / ms
    costs.ms.append(ms)
    costs.server_us.append((loadgen.tree_cpu(served.pid) - server) * 1e6 / requests)
    if database_pid:
        costs.database_us.append((loadgen.tree_cpu(database_pid) - database) * 1e6 / requests)


def _first_visits(http: httpx.Client, base: str, names: list[str]) -> float:
    """Milliseconds per request over one flow at every tenant, in random order: each meets cold caches."""
    order = random.sample(names, len(names))
    started = time.perf_counter()
    requests = sum(_flow(http, base, name, login=False) for name in order)
    return (time.perf_counter() - started) * 1000 / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=5000)
    parser.add_argument("--flows", type=int, default=200, help="SSO flows per server and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--logins", type=int, default=6, help="password-login flows per server (Argon2id)")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="postgres: a scratch database of the local PostgreSQL per server (dropped after)",
    )
    args = parser.parse_args()
    dropped: list[str] = []
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    workdir = Path(tempfile.mkdtemp(prefix="pixie-bench-tenants-"))
    try:
        started = time.perf_counter()
        password_hash = hash_password(PASSWORD)
        many = asyncio.run(
            _seed("many", _database(args.database, workdir, "many", dropped), args.tenants, password_hash)
        )
        one = asyncio.run(_seed("one", _database(args.database, workdir, "one", dropped), 1, password_hash))
        print(
            f"seeded {args.tenants} tenants in {time.perf_counter() - started:.1f} s; create_tenants: "
            f"{many.create_seconds:.2f} s = {many.create_seconds / args.tenants * 1000:.3f} ms per tenant "
            "(tenant + active and next ES256 keys, encrypted)"
        )
        with _serve(many, workdir) as many_server, _serve(one, workdir) as one_server, httpx.Client(timeout=30) as http:
            targets = [(many, many_server.base), (one, one_server.base)]
            for seeded, base in targets:  # warm-up: imports, connections, the one tenant's caches
                _round(http, base, seeded.names, 20)
            first_visits = _first_visits(http, many_server.base, many.names)
            for seeded in (many, one):
                _analyze(seeded.url)
            database_pid = compare._postmaster_pid() if args.database == "postgres" else 0
            served = {"many": many_server, "one": one_server}
            costs = {label: Costs([], [], []) for label in served}
            for number in range(args.rounds):
                for seeded, _ in targets if number % 2 == 0 else targets[::-1]:
                    label = seeded.label
                    _measured_round(http, served[label], seeded.names, args.flows, database_pid, costs[label])
            per_request = {label: cost.ms for label, cost in costs.items()}
            memory = {"many": _rss_mib(many_server.pid), "one": _rss_mib(one_server.pid)}
            logins = {
                seeded.label: _round(http, base, seeded.names, args.logins, login=True) for seeded, base in targets
            }
        many_ms, one_ms = statistics.median(per_request["many"]), statistics.median(per_request["one"])
        print(
            f"\nSSO flows (authorize with session + remembered consent -> code -> token), {args.rounds} rounds "
            f"x {args.flows} flows per server, random tenant per flow, every tenant visited once before:"
        )
        print(
            f"  {args.tenants:>5} tenants: {many_ms:6.2f} ms per request  (rounds: "
            + ", ".join(f"{v:.2f}" for v in per_request["many"])
            + ")"
        )
        print(
            f"  {1:>5} tenant : {one_ms:6.2f} ms per request  (rounds: "
            + ", ".join(f"{v:.2f}" for v in per_request["one"])
            + ")"
        )
        best = min(per_request["many"]) / min(per_request["one"])
        print(f"  ratio {args.tenants} / 1 tenants: {many_ms / one_ms:.2f}x (medians), {best:.2f}x (best rounds)")
        cpu = {label: statistics.median(cost.server_us) for label, cost in costs.items()}
        print(
            f"  server CPU per request (medians): {cpu['many']:.0f} vs {cpu['one']:.0f} µs, "
            f"ratio {cpu['many'] / cpu['one']:.2f}x"
        )
        if costs["many"].database_us:
            db = {label: statistics.median(cost.database_us) for label, cost in costs.items()}
            print(
                f"  PostgreSQL CPU per request (medians): {db['many']:.0f} vs {db['one']:.0f} µs, "
                f"ratio {db['many'] / db['one']:.2f}x"
            )
        print(
            f"  first visit of each of the {args.tenants} tenants (cold caches): {first_visits:.2f} ms per request, "
            f"{first_visits / one_ms:.2f}x one tenant's"
        )
        print(
            f"  resident memory after the rounds: {memory['many']:.0f} MiB with {args.tenants} warm tenants, "
            f"{memory['one']:.0f} MiB with 1 ({(memory['many'] - memory['one']) * 1024 / args.tenants:.1f} KiB "
            "per tenant)"
        )
        print(
            f"\nflows with a password login (authorize -> login page -> login POST -> code -> token), "
            f"{args.logins} per server: {logins['many']:.1f} vs {logins['one']:.1f} ms per request "
            f"(ratio {logins['many'] / logins['one']:.2f}x; Argon2id dominates on purpose)"
        )
        print(f"total {time.perf_counter() - started:.0f} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        for name in dropped:
            compare._drop_postgres(name)


def _analyze(url: str) -> None:
    """On PostgreSQL, ``ANALYZE`` the database: the first visits added a family, a refresh token and a redeemed code
    per tenant to tables that were empty when seeding analyzed them, and autovacuum (off on some machines) would
    analyze tables that grew this much within a minute. Plans made on the empty tables' statistics (the foreign-key
    check of each refresh token's family among them) would otherwise read every row of the table."""
    if url.startswith("postgresql"):
        name = url.rsplit("/", 1)[1]
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", name, "-qc", "ANALYZE"], check=True)


def _database(kind: str, workdir: Path, label: str, dropped: list[str]) -> str:
    """A fresh database for one server: a SQLite file, or a scratch database of the local PostgreSQL (named in
    ``dropped``, for removal)."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / label}.db"
    name, url = compare._postgres_database()
    dropped.append(name)
    return url


if __name__ == "__main__":
    main()
