"""What one token request costs in CPU instructions, counted by valgrind: a measure this noisy machine cannot move.

Run on purpose, never from ``make test`` (needs ``valgrind``; about two minutes per scenario on two cores)::

    .venv/bin/python bench/instructions.py                         # cc and refresh, events on and off
    .venv/bin/python bench/instructions.py --scenarios cc --requests 3200

Why: the throughput runs (``bench/compare.py``) time a server on a shared virtual machine whose speed drifts by
10-30 % between identical rounds, so a 5 % difference such as what flow events cost (issue 8) drowns in it. An
instruction count is the same on every run (to about 1 %). Each configuration runs the real app in one process
(the same settings, database and seed as ``compare.py``) under ``valgrind --tool=callgrind`` twice, with
``--base`` and ``--base + --requests`` requests; the difference over ``--requests`` is the cost of one request,
without start-up. Requests go through the ASGI app directly, 32 at a time, so HTTP parsing (uvicorn, the same
with events on or off) is left out and the on/off ratio is an upper bound of what a served request pays.

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
import gc
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import compare

CONCURRENCY = 32
FLUSH_EVERY = 1000
"""Events per flush: what the sink's 0.25 s timer gathers at 4,000 events/s (2,000 refresh grants/s, two each)."""


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


async def _seed_refresh_tokens(context: Any, count: int) -> list[str]:
    """``count`` refresh tokens of bench-user for bench-confidential, each starting its own family."""
    from pixie.security import hash_secret
    from pixie.storage.records import RefreshFamily, RefreshToken
    from pixie.tenancy import DEFAULT_TENANT
    from pixie.tokens.issuer import new_opaque_secret

    storage, now = context.storage, time.time()
    user = await storage.users.get_by_username(DEFAULT_TENANT, "bench-user")
    tokens = []
    for index in range(count):
        secret = new_opaque_secret()
        family = RefreshFamily(
            tenant_id=DEFAULT_TENANT,
            family_id=f"bench-{index}",
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


async def _child(scenario: str, events: bool, requests: int, workdir: Path) -> None:
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
    settings = Settings.from_env(env, issuer="http://127.0.0.1:9000", insecure_allow_http=True)
    app = server_app.create_app(settings)
    stop = await _lifespan(app)
    basic = (b"authorization", b"Basic " + base64.b64encode(b"bench-confidential:bench-secret"))
    refresh_tokens = await _seed_refresh_tokens(app.state.pixie, CONCURRENCY) if scenario == "refresh" else []
    gc.collect()
    gc.freeze()  # as pixie serve does

    async def worker(index: int) -> None:
        for _ in range(requests // CONCURRENCY):
            if scenario == "cc":
                await _post(app, [basic], b"grant_type=client_credentials&scope=api%3Aread")
            else:
                body = urlencode({"grant_type": "refresh_token", "refresh_token": refresh_tokens[index]}).encode()
                refresh_tokens[index] = (await _post(app, [basic], body))["refresh_token"]

    await asyncio.gather(*(worker(index) for index in range(CONCURRENCY)))
    await stop()


# --- the parent: counts, pairs and reports --------------------------------------------------------------------------


def _count(scenario: str, events: bool, requests: int, seeded: Path) -> int:
    """Instructions of one child run (start-up included), on a fresh copy of the seeded database."""
    with tempfile.TemporaryDirectory() as workdir:
        for item in seeded.iterdir():
            shutil.copy2(item, workdir)
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
        command += [sys.executable, __file__, "--child", scenario, "on" if events else "off", str(requests), workdir]
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        found = re.search(r"Collected : (\d+)", out.stderr)
        if out.returncode != 0 or found is None:
            raise SystemExit(f"the counted run failed ({scenario}, events {events}):\n{out.stderr[-3000:]}")
        return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="cc,refresh")
    parser.add_argument("--base", type=int, default=320, help="requests in the shorter run (start-up and warm-up)")
    parser.add_argument("--requests", type=int, default=1600, help="requests counted: the runs' difference")
    parser.add_argument("--repeat", type=int, default=1, help="pairs of runs per configuration (median taken)")
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    parser.add_argument(
        "--child", nargs=4, metavar=("SCENARIO", "EVENTS", "REQUESTS", "WORKDIR"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        scenario, events, requests, workdir = args.child
        import uvloop

        uvloop.run(_child(scenario, events == "on", int(requests), Path(workdir)))
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
                    with ThreadPoolExecutor(max_workers=2) as pool:  # the two runs of a pair, one per core
                        short = pool.submit(_count, scenario, events, args.base, seeded)
                        long = pool.submit(_count, scenario, events, args.base + args.requests, seeded)
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
            f"{args.requests} requests counted ({args.base} before them), {CONCURRENCY} at a time, in process; "
            f"median of {args.repeat} pair(s)"
        )
        compare.record("instructions per token request (bench/instructions.py, valgrind)", intro, table)


if __name__ == "__main__":
    main()
