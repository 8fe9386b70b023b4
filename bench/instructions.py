"""What one token request costs in CPU instructions, counted by valgrind: a measure machine noise cannot move.

Run on purpose, never from ``make test`` (needs ``valgrind``; on two cores about 5 minutes, 10 with ``--served``)::

    .venv/bin/python bench/instructions.py                         # cc and refresh, events on and off
    .venv/bin/python bench/instructions.py --scenarios cc --requests 3200
    .venv/bin/python bench/instructions.py --served               # through uvicorn, requests over loopback

Why: the throughput runs (``bench/compare.py``) time a server on a shared virtual machine whose speed drifts by
10-30 % between identical rounds, so a 5 % difference such as what flow events cost drowns in it. An
instruction count is the same on every run (to about 1 %). Each configuration runs the real app in one process
(the same settings, database and seed as ``compare.py``) under ``valgrind --tool=callgrind`` twice, with
``--base`` and ``--base + --requests`` requests; the difference over ``--requests`` is the cost of one request,
without start-up. Requests go through the ASGI app directly, 32 at a time, so HTTP parsing (uvicorn, the same
with events on or off) is left out and the on/off ratio is an upper bound of what a served request pays. With
``--served`` the app runs in uvicorn with ``pixie serve``'s options, and 32 keep-alive clients in the parent (not
counted) send the requests over loopback: what a served request costs, HTTP included.

What it does not count: time in the kernel (writes of the WAL and the audit log; small, see ``compare.py``'s
system time), cache misses and waits. The event sink flushes by count (:data:`FLUSH_EVERY` events), not by its
0.25 s timer: under valgrind the app runs ~50x slower, and the timer would write batches 50x smaller than under
real load, overstating per-batch costs; never flushing until shutdown overstates the other way (the buffered
events make every full garbage collection longer).

Scenarios: ``cc`` (client_credentials, client_secret_basic) and ``refresh`` (refresh_token grant with rotation, on
families seeded before counting starts, one chain per concurrent worker).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import compare

CONCURRENCY = 32
FLUSH_EVERY = 1000
"""Events per flush: what the sink's 0.25 s timer gathers at 4,000 events/s (2,000 refresh grants/s, two each)."""


# --- in-process benchmarks' set-up (also bench/dpop.py and bench/features.py) --------------------------------------


def in_process_arguments(description: str | None, unit: str) -> argparse.Namespace:
    """``--rounds``, ``--requests`` (per side and round, a multiple of :data:`CONCURRENCY`) and ``--no-record``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=640, help=f"{unit} (multiple of {CONCURRENCY})")
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()
    if args.requests % CONCURRENCY:
        raise SystemExit(f"--requests must be a multiple of {CONCURRENCY}")
    return args


@contextlib.contextmanager
def seeded_workdir(prefix: str) -> Iterator[Path]:
    """This process pinned to the last core, and a folder with the SQLite database ``compare.py`` seeds (removed
    after)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        compare._seed(compare._pixie_env(workdir, f"sqlite:///{workdir / 'bench.db'}"))
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- the child: one app, N requests, counted from outside by valgrind --------------------------------------------


async def _lifespan(app: Any) -> Callable[[], Awaitable[None]]:
    """Start the app's lifespan; returns the coroutine function that stops it."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise SystemExit(f"the app did not start: {started}")

    async def stop() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task

    return stop


async def _post(app: Any, headers: list[tuple[bytes, bytes]], body: bytes) -> dict[str, Any]:
    """POST /token through the ASGI app; the JSON answer (a status other than 200 stops the run)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/token",
        "raw_path": b"/token",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:9000"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 9000),
        "state": {},
    }
    delivered = False
    status: list[int] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:  # the app only asks again to watch for a disconnect
            await asyncio.Event().wait()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    if status != [200]:
        raise SystemExit(f"/token answered {status}: {b''.join(chunks)[:300]!r}")
    answer: dict[str, Any] = json.loads(b"".join(chunks))
    return answer


async def _seed_refresh_tokens(workdir: Path, count: int = CONCURRENCY, prefix: str = "bench") -> list[str]:
    """One refresh token per concurrent worker (``count``), of bench-user for bench-confidential, each starting its
    own family ``{prefix}-{n}`` (written before the counted run starts, in the parent: Alembic's migration is not
    thread-safe)."""
    from pixie.config import Settings
    from pixie.security import hash_secret
    from pixie.server.app import open_backend
    from pixie.storage.records import RefreshFamily, RefreshToken
    from pixie.tenancy import DEFAULT_TENANT
    from pixie.tokens.issuer import new_opaque_secret

    env = compare._pixie_env(workdir, f"sqlite:///{workdir / 'bench.db'}")
    settings = Settings.from_env(env, issuer="http://127.0.0.1:9000", insecure_allow_http=True)
    now, tokens = time.time(), []
    async with open_backend(settings) as (storage, _):
        user = await storage.users.get_by_username(DEFAULT_TENANT, "bench-user")
        assert user is not None, "compare._seed creates bench-user"
        for index in range(count):
            secret = new_opaque_secret()
            family = RefreshFamily(
                tenant_id=DEFAULT_TENANT,
                family_id=f"{prefix}-{index}",
                client_id="bench-confidential",
                user_id=user.user_id,
                scopes=("api:read",),
                auth_time=now,
                created_at=now,
                absolute_expires_at=now + 86400,
            )
            first = RefreshToken(
                tenant_id=DEFAULT_TENANT,
                token_hash=hash_secret(secret.value),
                family_id=family.family_id,
                scopes=family.scopes,
                created_at=now,
                expires_at=now + 86400,
            )
            await storage.refresh.create_family(family, first)
            tokens.append(secret.value)
    return tokens


def _app(events: bool, workdir: Path, issuer: str) -> Any:
    """The app as ``pixie serve`` builds it (heap frozen once started), with a sink that flushes by count."""
    import pixie.server.app as server_app
    from pixie.config import Settings
    from pixie.events import BufferedEventSink, FlowEvent

    class FlushByCount(BufferedEventSink):
        """The app's sink with its timer off: it flushes each time ``FLUSH_EVERY`` events are waiting (see above)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "interval": 1e9})
            self._flushing: asyncio.Task[int] | None = None

        def emit(self, event: FlowEvent) -> None:
            super().emit(event)
            if self.pending >= FLUSH_EVERY and (self._flushing is None or self._flushing.done()):
                self._flushing = asyncio.get_running_loop().create_task(self.flush())

    server_app.BufferedEventSink = FlushByCount  # type: ignore[misc]
    env = compare._pixie_env(workdir, f"sqlite:///{workdir / 'bench.db'}", events=events)
    settings = Settings.from_env(env, issuer=issuer, insecure_allow_http=True)
    return server_app.create_app(settings, freeze_heap=True)


def _form(scenario: str, refresh_token: str) -> dict[str, str]:
    if scenario == "cc":
        return {"grant_type": "client_credentials", "scope": "api:read"}
    return {"grant_type": "refresh_token", "refresh_token": refresh_token}


async def _child(scenario: str, events: bool, requests: int, workdir: Path) -> None:
    """In process: ``requests`` token requests through the ASGI app, CONCURRENCY at a time."""
    app = _app(events, workdir, "http://127.0.0.1:9000")
    stop = await _lifespan(app)
    basic = (b"authorization", b"Basic " + base64.b64encode(b"bench-confidential:bench-secret"))
    tokens = json.loads((workdir / "tokens.json").read_text())

    async def worker(index: int) -> None:
        for _ in range(requests // CONCURRENCY):
            answer = await _post(app, [basic], urlencode(_form(scenario, tokens[index])).encode())
            tokens[index] = answer.get("refresh_token", "")

    await asyncio.gather(*(worker(index) for index in range(CONCURRENCY)))
    await stop()


def _served_child(events: bool, workdir: Path, port: int) -> None:
    """Served: uvicorn with ``pixie serve``'s options, until SIGINT; the parent sends the requests."""
    import uvicorn

    app = _app(events, workdir, f"http://127.0.0.1:{port}")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, server_header=False)


async def _drive(issuer: str, scenario: str, requests: int, tokens: list[str]) -> None:
    """``requests`` token requests over loopback, CONCURRENCY keep-alive connections (not counted: another
    process)."""
    import httpx

    limits = httpx.Limits(max_connections=CONCURRENCY)
    auth = ("bench-confidential", "bench-secret")
    async with httpx.AsyncClient(base_url=issuer, auth=auth, limits=limits, timeout=600) as http:

        async def worker(index: int) -> None:
            for _ in range(requests // CONCURRENCY):
                answer = await http.post("/token", data=_form(scenario, tokens[index]))
                if answer.status_code != 200:
                    raise SystemExit(f"/token answered {answer.status_code}: {answer.text[:300]}")
                tokens[index] = answer.json().get("refresh_token", "")

        await asyncio.gather(*(worker(index) for index in range(CONCURRENCY)))


# --- the parent: counts, pairs and reports --------------------------------------------------------------------------


def _prepare(scenario: str, seeded: Path) -> Path:
    """A fresh copy of the seeded database, with the refresh tokens the workers start from (``tokens.json``)."""
    workdir = Path(tempfile.mkdtemp(prefix="pixie-instructions-run-"))
    for item in seeded.iterdir():
        shutil.copy2(item, workdir)
    tokens = asyncio.run(_seed_refresh_tokens(workdir)) if scenario == "refresh" else [""] * CONCURRENCY
    (workdir / "tokens.json").write_text(json.dumps(tokens))
    return workdir


def _count(scenario: str, events: bool, requests: int, workdir: Path, port: int | None) -> int:
    """Instructions of one child run, start-up included (``port``: served, else in process)."""
    mode = "on" if events else "off"
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
    try:
        if port is None:
            command += ["--child", scenario, mode, str(requests), str(workdir)]
            out = subprocess.run(command, capture_output=True, text=True, check=False)
            returncode, stderr = out.returncode, out.stderr
        else:
            command += ["--served-child", mode, str(workdir), str(port)]
            server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            issuer = f"http://127.0.0.1:{port}"
            try:
                compare._wait_up(issuer + "/.well-known/oauth-authorization-server", timeout=600)
                asyncio.run(_drive(issuer, scenario, requests, json.loads((workdir / "tokens.json").read_text())))
            finally:
                server.send_signal(signal.SIGINT)  # uvicorn's graceful stop: the lifespan's last flush is counted
                stderr = server.communicate(timeout=600)[1]
            returncode = server.returncode
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    found = re.search(r"Collected : (\d+)", stderr)
    if returncode != 0 or found is None:
        raise SystemExit(f"the counted run failed ({scenario}, events {mode}):\n{stderr[-3000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="cc,refresh")
    parser.add_argument("--base", type=int, default=320, help="requests in the shorter run (start-up and warm-up)")
    parser.add_argument("--requests", type=int, default=1600, help="requests counted: the runs' difference")
    parser.add_argument("--repeat", type=int, default=1, help="pairs of runs per configuration (median taken)")
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    parser.add_argument("--served", action="store_true", help="through uvicorn over loopback, not in process")
    parser.add_argument(
        "--child", nargs=4, metavar=("SCENARIO", "EVENTS", "REQUESTS", "WORKDIR"), help=argparse.SUPPRESS
    )
    parser.add_argument("--served-child", nargs=3, metavar=("EVENTS", "WORKDIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        scenario, events, requests, workdir = args.child
        import uvloop

        uvloop.run(_child(scenario, events == "on", int(requests), Path(workdir)))
        return
    if args.served_child:
        events, workdir, port = args.served_child
        _served_child(events == "on", Path(workdir), int(port))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("bench/instructions.py needs valgrind (apt-get install valgrind)")
    for number in (args.base, args.requests):
        if number % CONCURRENCY:
            raise SystemExit(f"--base and --requests must be multiples of {CONCURRENCY}")
    seeded = Path(tempfile.mkdtemp(prefix="pixie-instructions-"))
    compare._seed(compare._pixie_env(seeded, f"sqlite:///{seeded / 'bench.db'}"))
    per_request: dict[tuple[str, bool], float] = {}
    try:
        for scenario in [s.strip() for s in args.scenarios.split(",") if s.strip()]:
            for events in (True, False):
                print(f"counting {scenario}, events {'on' if events else 'off'}", file=sys.stderr)
                samples = []
                for _ in range(args.repeat):
                    short_dir, long_dir = _prepare(scenario, seeded), _prepare(scenario, seeded)
                    ports = (3401, 3402) if args.served else (None, None)
                    with ThreadPoolExecutor(max_workers=2) as pool:  # the two runs of a pair, one per core
                        short = pool.submit(_count, scenario, events, args.base, short_dir, ports[0])
                        long = pool.submit(_count, scenario, events, args.base + args.requests, long_dir, ports[1])
                        samples.append((long.result() - short.result()) / args.requests)
                per_request[(scenario, events)] = statistics.median(samples)
    finally:
        shutil.rmtree(seeded, ignore_errors=True)
    lines = ["| scenario | events on | events off | on/off |", "|---|---:|---:|---:|"]
    for scenario in dict.fromkeys(s for s, _ in per_request):
        on, off = per_request[(scenario, True)], per_request[(scenario, False)]
        lines.append(f"| {scenario} | {on / 1000:,.1f}k | {off / 1000:,.1f}k | {on / off:.3f} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        intro = (
            f"{args.requests} requests counted ({args.base} before them), {CONCURRENCY} at a time, "
            f"{'served over loopback' if args.served else 'in process'}; "
            f"median of {args.repeat} pair(s)"
        )
        compare.record("instructions per token request (bench/instructions.py, valgrind)", intro, table)


if __name__ == "__main__":
    main()
