"""Statements and round trips per operation, on SQLite and PostgreSQL: what each scenario of ``compare.py`` asks of
the database.

Run on purpose, never from ``make test``::

    .venv/bin/python bench/statements.py                      # both databases, 50 operations per scenario (~30 s)
    .venv/bin/python bench/statements.py --databases postgres --show sso,refresh      # and each statement's text
    .venv/bin/python bench/statements.py --record             # append the table to bench/RESULTS.md

What it counts: a real Pixie (:class:`pixie.testing.PixieTestServer`, in this process, over loopback HTTP) seeded as
``compare.py`` seeds it, and the operations of ``bench/loadgen.py``: ``cc`` (a client_credentials grant), ``sso`` (a
returning browser: authorize → code → token exchange), ``refresh`` (a refresh grant with rotation) and
``introspect`` (a refresh token, by the confidential client). Each scenario runs ``--warmup`` times uncounted (caches
filled), then ``--operations`` times counted; the figures are per operation.

How: on PostgreSQL every call of asyncpg's ``Connection`` (``execute``, ``fetch``, ``fetchrow``, ``fetchval``,
``executemany``) is one round trip to the server, ``BEGIN`` and ``COMMIT`` included; on SQLite, which has no round
trips, each connection's trace callback sees every statement it runs (``BEGIN`` and ``COMMIT`` included), and a
commit is what the write-ahead log pays for. The counts are the same on every run, whatever the machine does.
Events are on (as in production): their batched inserts show as a fraction per operation.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import functools
import os
import re
import secrets
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from pixie.pkce import create_challenge, generate_verifier
from pixie.testing import PixieTestServer

ROOT = Path(__file__).resolve().parents[1]
POSTGRES = os.environ.get("PIXIE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIRECT = "http://127.0.0.1:9999/cb"
SCOPE = "api:read"
SCENARIOS = ("cc", "sso", "refresh", "introspect")
EVENT_DRAIN_SECONDS = 0.8
"""Longer than three of the event sink's 0.25 s flush intervals."""


class Counter:
    """Statements seen, by text, while :attr:`counting`; thread-safe (SQLite runs some on its worker thread)."""

    def __init__(self) -> None:
        self.counting = False
        self.seen: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def saw(self, sql: str) -> None:
        if self.counting:
            with self._lock:
                self.seen[_shape(sql)] += 1

    @contextlib.contextmanager
    def window(self) -> Iterator[collections.Counter[str]]:
        self.seen = collections.Counter()
        self.counting = True
        try:
            yield self.seen
        finally:
            self.counting = False


_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b|X'[0-9A-Fa-f]*'")


def _shape(sql: str) -> str:
    """The statement without its values: SQLite's trace shows them bound, PostgreSQL's has ``$n`` placeholders."""
    return _LITERAL.sub("?", " ".join(sql.split()))


def _watch_postgres(counter: Counter) -> None:
    import asyncpg

    for name in ("execute", "fetch", "fetchrow", "fetchval", "executemany"):
        original = getattr(asyncpg.Connection, name)

        def counted(self: Any, query: str, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            counter.saw(query)
            return _original(self, query, *args, **kwargs)

        setattr(asyncpg.Connection, name, functools.wraps(original)(counted))


def _watch_sqlite(counter: Counter) -> None:
    from pixie.storage.sqlite import database

    original = database.Database._connect

    def connect(self: Any) -> Any:
        connection = original(self)
        connection.set_trace_callback(counter.saw)
        return connection

    database.Database._connect = connect  # type: ignore[method-assign]


class Flows:
    """The operations of ``bench/loadgen.py``, over httpx, against one seeded server."""

    def __init__(self, server: PixieTestServer) -> None:
        self.server = server
        self.issuer = server.issuer
        self.browser = httpx.Client(timeout=30)  # keeps the SSO session's cookie
        self.http = httpx.Client(timeout=30)
        self.refresh_token = ""

    def close(self) -> None:
        self.browser.close()
        self.http.close()

    def _authorize_url(self, verifier: str, state: str) -> str:
        query = httpx.QueryParams(
            response_type="code",
            client_id="bench-public",
            redirect_uri=REDIRECT,
            scope=SCOPE,
            state=state,
            code_challenge=create_challenge(verifier),
            code_challenge_method="S256",
        )
        return f"{self.issuer}/authorize?{query}"

    def _exchange(self, callback: str, verifier: str, state: str) -> dict[str, Any]:
        params = parse_qs(urlsplit(callback).query)
        assert params["state"] == [state], callback
        form = {
            "grant_type": "authorization_code",
            "code": params["code"][0],
            "redirect_uri": REDIRECT,
            "client_id": "bench-public",
            "code_verifier": verifier,
        }
        return self._token(form)

    def _token(self, form: dict[str, str], auth: tuple[str, str] | None = None) -> dict[str, Any]:
        answer = self.http.post(f"{self.issuer}/token", data=form, auth=auth)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def sign_in(self) -> None:
        """The set-up, not counted: the user signs in (login and consent) in the browser."""
        verifier, state = generate_verifier(), secrets.token_urlsafe(12)
        url = self._authorize_url(verifier, state)
        callback = self.server.sign_in("bench-user", url, REDIRECT, http=self.browser)
        self.refresh_token = self._exchange(callback, verifier, state)["refresh_token"]

    def cc(self) -> None:
        self._token({"grant_type": "client_credentials", "scope": SCOPE}, auth=("bench-confidential", "bench-secret"))

    def sso(self) -> None:
        verifier, state = generate_verifier(), secrets.token_urlsafe(12)
        answer = self.browser.get(self._authorize_url(verifier, state))
        assert answer.status_code in (302, 303) and answer.headers["location"].startswith(REDIRECT), answer.text
        self._exchange(answer.headers["location"], verifier, state)

    def refresh(self) -> None:
        form = {"grant_type": "refresh_token", "refresh_token": self.refresh_token, "client_id": "bench-public"}
        self.refresh_token = self._token(form)["refresh_token"]

    def introspect(self) -> None:
        form = {"token": self.refresh_token, "token_type_hint": "refresh_token"}
        answer = self.http.post(f"{self.issuer}/introspect", data=form, auth=("bench-confidential", "bench-secret"))
        assert answer.status_code == 200 and answer.json()["active"] is True, answer.text


def _seed(server: PixieTestServer) -> None:
    """What ``compare.py`` seeds: the two bench clients and the user."""
    grants = ["authorization_code", "refresh_token"]
    server.add_client(
        "bench-confidential",
        confidential=True,
        secret="bench-secret",
        redirect_uri=REDIRECT,
        grant_types=[*grants, "client_credentials"],
        scope=SCOPE,
    )
    server.add_client(
        "bench-public", redirect_uri=REDIRECT, grant_types=grants, scope=SCOPE, audience="bench-confidential"
    )
    server.add_user("bench-user", "bench-password")


@contextlib.contextmanager
def _postgres_database() -> Iterator[str]:
    """A scratch database on the bench PostgreSQL for this run, dropped after."""
    import asyncio

    import asyncpg

    name = f"pixie_statements_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(POSTGRES)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        yield "postgresql://" + POSTGRES.split("://", 1)[1].rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def count(database: str, operations: int, warmup: int) -> dict[str, collections.Counter[str]]:
    """Per scenario, every statement text and how many times it ran over ``operations`` operations."""
    counter = Counter()
    results: dict[str, collections.Counter[str]] = {}
    with contextlib.ExitStack() as stack:
        if database == "postgres":
            _watch_postgres(counter)
            url = stack.enter_context(_postgres_database())
        else:
            _watch_sqlite(counter)
            url = f"sqlite:///{stack.enter_context(tempfile.TemporaryDirectory())}/pixie.db"
        server = stack.enter_context(PixieTestServer(database_url=url, housekeeping_interval=0, audit_log=None))
        _seed(server)
        flows = Flows(server)
        stack.callback(flows.close)
        flows.sign_in()
        for scenario in SCENARIOS:
            operation: Callable[[], None] = getattr(flows, scenario)
            for _ in range(warmup):
                operation()
            time.sleep(EVENT_DRAIN_SECONDS)  # the warm-up's events are written before counting starts
            with counter.window() as seen:
                for _ in range(operations):
                    operation()
                time.sleep(EVENT_DRAIN_SECONDS)  # and these operations' events inside the window
            results[scenario] = seen
    return results


def _kind(sql: str) -> str:
    first = sql.split(None, 1)[0].upper()
    return "CTE" if first == "WITH" else first


def table(counts: dict[str, dict[str, collections.Counter[str]]], operations: int) -> str:
    lines = [
        "| database | scenario | statements / op | of which BEGIN+COMMIT | reads (SELECT) | writes | by kind |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for database, scenarios in counts.items():
        for scenario, seen in scenarios.items():
            kinds: collections.Counter[str] = collections.Counter()
            for sql, times in seen.items():
                kinds[_kind(sql)] += times
            total = sum(kinds.values()) / operations
            framing = (kinds["BEGIN"] + kinds["COMMIT"]) / operations
            reads = kinds["SELECT"] / operations
            writes = total - framing - reads
            detail = ", ".join(f"{kind} {n / operations:.2f}" for kind, n in kinds.most_common())
            lines.append(
                f"| {database} | {scenario} | {total:.2f} | {framing:.2f} | {reads:.2f} | {writes:.2f} | {detail} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--operations", type=int, default=50, help="counted operations per scenario")
    parser.add_argument("--warmup", type=int, default=5, help="uncounted operations first, per scenario")
    parser.add_argument("--show", default="", help="scenarios whose statements to print, text and count per op")
    parser.add_argument("--record", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()
    counts: dict[str, dict[str, collections.Counter[str]]] = {}
    for database in [d.strip() for d in args.databases.split(",") if d.strip()]:
        if database not in ("sqlite", "postgres"):
            parser.error(f"unknown database {database!r}")
        counts[database] = count(database, args.operations, args.warmup)
    report = table(counts, args.operations)
    print(report)
    shown = {s.strip() for s in args.show.split(",") if s.strip()}
    for database, scenarios in counts.items():
        for scenario in sorted(shown & set(scenarios)):
            print(f"\n{database} / {scenario}, per operation:")
            for sql, times in scenarios[scenario].most_common():
                print(f"  {times / args.operations:5.2f}  {sql[:160]}")
    if args.record:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        with (ROOT / "bench" / "RESULTS.md").open("a") as results:
            results.write(f"\n### statements.py, {stamp}, commit {commit.stdout.strip()}\n\n{report}\n")


if __name__ == "__main__":
    main()
