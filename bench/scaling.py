"""``pixie serve --workers 2`` against one worker, driven by wrk: how throughput scales with a second worker.

Run on purpose, never from ``make test``::

    .venv/bin/python bench/scaling.py                        # cc, introspect, refresh; 3 rounds x 10 s
    .venv/bin/python bench/scaling.py --quick                # 1 round x 4 s
    .venv/bin/python bench/scaling.py --scenarios cc --runs 5 --no-record
    .venv/bin/python bench/scaling.py --database postgres    # two instances on one PostgreSQL, with Redis

Why wrk and not ``bench/loadgen.py``: on two cores, two workers need both, and a Python load generator needs most of
a core by itself, so with it the figure measured contention, not scaling (``bench/README.md``, Scaling). wrk,
compiled, drives the same request rate on a fraction of a core (its CPU share is printed). It is installed with
``apt-get`` on first use when it is missing and this runs as root.

Both servers run on the embedded default (an SQLite file each, WAL, ``synchronous=NORMAL``, events on), started once
and seeded as ``bench/compare.py`` seeds them; with ``--database postgres``, on a scratch database each of the local
PostgreSQL (which shares the same two cores), with rate limits counted in the local Redis. The baseline is one
worker pinned to core 0 with wrk pinned to core 1: the best a single worker can do here, with a core of its own.
``--workers 2`` and wrk are not pinned: the two workers and wrk share both cores, so the ratio understates scaling
by wrk's share. Rounds alternate the two servers' order.

Scenarios (wrk ``-t1 -c32``): ``cc`` client_credentials grants (client_secret_basic), ``introspect`` RFC 7662
introspection of a refresh token by the confidential client, ``refresh`` rotating refresh_token grants by the public
client (``bench/wrk/refresh.lua``: each response's successor goes back into a queue; the tokens come from SSO flows
run by ``bench/loadgen.py --refresh-tokens`` before each run). Every response must be a 200 and, for refresh, carry
a successor: errors are counted and must be 0.

Output: a table of medians (ops/s, p50/p99, errors, server CPU µs per op, wrk's CPU share) with the ratio two workers
/ one, the ratios round by round, and the same appended to ``bench/RESULTS.md`` (unless ``--no-record``).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import compare  # the sibling scripts' helpers (a script's own folder is first on sys.path)
import peers
from loadgen import tree_cpu

WRK_DIR = Path(__file__).resolve().parent / "wrk"
SCENARIOS = ("cc", "introspect", "refresh")
CONFIDENTIAL = "bench-confidential:bench-secret"
REDIS_URL = os.environ.get("PIXIE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TOKENS_PER_RUN = 64  # twice wrk's connections: a queue that never runs dry while every response returns a successor


@dataclass
class Server:
    label: str
    workers: int
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def servers(*, events: bool = True, database: str = "sqlite") -> Iterator[list[Server]]:
    """The two servers. On ``postgres`` each gets a scratch database of the local PostgreSQL and both count their
    rate limits in the local Redis, as instances that share a database must (``README``, Running several
    instances); a worker of ``--workers 2`` is such an instance, with its own process, pool and caches."""
    started: list[Server] = []
    dropped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pixie-scaling-") as tmp:
        try:
            for workers, port in ((1, 3301), (2, 3302)):
                workdir = Path(tmp) / f"w{workers}"
                workdir.mkdir()
                if database == "postgres":
                    name, url = compare._postgres_database()
                    dropped.append(name)
                else:
                    url = f"sqlite:///{workdir / 'bench.db'}"
                env = compare._pixie_env(workdir, url, events=events)
                if database == "postgres":
                    env["PIXIE_REDIS_URL"] = REDIS_URL
                compare._seed(env)
                pin = compare._pin("0") if workers == 1 else []
                command = [*pin, str(compare.PIXIE), "serve", "--port", str(port), "--workers", str(workers)]
                log = (workdir / "server.log").open("wb")
                process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
                server = Server(f"{workers} worker{'s' if workers > 1 else ''}", workers, port, process)
                started.append(server)
                _wait_listening(port, workers)
                compare._wait_up(server.url + "/.well-known/oauth-authorization-server")
            yield started
        finally:
            for server in started:
                compare.stop(server.process)
            for name in dropped:
                compare._drop_postgres(name)


def _wait_listening(port: int, count: int, timeout: float = 60) -> None:
    """Until ``count`` sockets listen on ``port`` (``pixie serve --workers N``: one per worker, listening once that
    worker is up), so that no run starts while a worker is still importing and its share of connections would all
    go to the other."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
        if sum(1 for row in rows if row[3] == "0A" and int(row[1].rsplit(":", 1)[1], 16) == port) >= count:
            return
        time.sleep(0.1)
    raise SystemExit(f"fewer than {count} sockets listen on port {port} after {timeout:g} s")


def _refresh_tokens(server: Server, count: int) -> list[str]:
    argv = [str(peers.PYTHON), str(peers.LOADGEN), "--issuer", server.url, "--refresh-tokens", str(count)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise SystemExit(f"could not get refresh tokens from {server.label}: {out.stderr.strip()[-400:]}")
    return out.stdout.split()


def _ensure_wrk() -> None:
    if shutil.which("wrk") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get)", file=sys.stderr)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        )
    if shutil.which("wrk") is None:
        raise SystemExit("bench/scaling.py needs wrk (Debian and Ubuntu: apt-get install wrk)")


def _post(url: str, form: dict[str, str], basic: str | None = None) -> dict[str, object]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
    request = urllib.request.Request(url, urllib.parse.urlencode(form).encode(), headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, object] = json.loads(response.read())
        return result


def _wrk(server: Server, scenario: str, args: argparse.Namespace, workdir: Path, *, measured: bool) -> dict[str, float]:
    """One wrk run; returns its WRKJSON figures plus the server's and wrk's CPU seconds over it."""
    env = dict(os.environ)
    duration = args.duration if measured else args.warmup
    if scenario == "refresh":
        tokens = workdir / f"tokens-{server.port}.txt"
        tokens.write_text("\n".join(_refresh_tokens(server, TOKENS_PER_RUN)) + "\n")
        env.update({"TOKENS": str(tokens), "CLIENT": "bench-public"})
        script, path = WRK_DIR / "refresh.lua", "/token"
    else:
        script, path = WRK_DIR / "form.lua", "/token"
        env["AUTHORIZATION"] = "Basic " + base64.b64encode(CONFIDENTIAL.encode()).decode()
        env["BODY"] = "grant_type=client_credentials&scope=api:read"
        if scenario == "introspect":
            token = _refresh_tokens(server, 1)[0]
            env["BODY"] = urllib.parse.urlencode({"token": token, "token_type_hint": "refresh_token"})
            path = "/introspect"
            active = _post(server.url + path, {"token": token}, CONFIDENTIAL)
            if active.get("active") is not True:
                raise SystemExit(f"{server.label}: the token to introspect is not active: {active}")
    pin = compare._pin("1") if server.workers == 1 else []
    command = [*pin, "wrk", "-t1", f"-c{args.connections}", f"-d{duration:g}s", "--latency", "-s", str(script)]
    before, children = tree_cpu(server.process.pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk = subprocess.run([*command, server.url + path], env=env, capture_output=True, text=True)
    server_cpu = tree_cpu(server.process.pid) - before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # only wrk was reaped in between
    output = wrk.stdout + wrk.stderr
    if wrk.returncode != 0:
        raise SystemExit(f"wrk failed on {server.label} {scenario}:\n{output}")
    line = next((line for line in output.splitlines() if line.startswith("WRKJSON ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result on {server.label} {scenario}:\n{output}")
    result: dict[str, float] = json.loads(line.removeprefix("WRKJSON "))
    result["errors"] = result["non200"] + result["socket_errors"] + result.get("lost", 0)
    result["server_cpu_s"] = server_cpu
    result["wrk_cpu_s"] = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    result["seconds"] = duration
    return result


def summarize(runs: dict[tuple[str, str], list[dict[str, float]]], labels: list[str], scenarios: list[str]) -> str:
    lines = [
        "| scenario | server | ops/s (median) | p50 ms | p99 ms | errors | server CPU µs/op | wrk CPU (cores) | "
        "2 workers / 1 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    paired: list[str] = []
    for scenario in scenarios:
        one = runs[(labels[0], scenario)]
        for label in labels:
            rows = runs[(label, scenario)]

            def median(key: str, rows: list[dict[str, float]] = rows) -> float:
                return statistics.median(row[key] for row in rows)

            ops = median("rps")
            cpu = statistics.median(row["server_cpu_s"] / row["requests"] * 1e6 for row in rows)
            share = statistics.median(row["wrk_cpu_s"] / row["seconds"] for row in rows)
            errors = int(sum(row["errors"] for row in rows))
            ratio = f"{ops / statistics.median(row['rps'] for row in one):.2f}x" if label != labels[0] else ""
            lines.append(
                f"| {scenario} | {label} | {ops:,.0f} | {median('p50_ms'):.1f} | {median('p99_ms'):.1f} | {errors} | "
                f"{cpu:,.0f} | {share:.2f} | {ratio} |"
            )
        ratios = [b["rps"] / a["rps"] for a, b in zip(one, runs[(labels[1], scenario)], strict=True)]
        each = ", ".join(f"{ratio:.2f}" for ratio in ratios)
        paired.append(f"Paired, {scenario}: 2 workers / 1 per round {each}; median {statistics.median(ratios):.2f}x")
    return "\n".join([*lines, "", *paired])


def main() -> None:
    parser = compare.round_parser(__doc__, SCENARIOS)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-events", action="store_true", help="PIXIE_EVENTS=off: no event writes to contend")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="postgres: each server on a scratch database of the local PostgreSQL, rate limits in the local Redis",
    )
    args, scenarios = compare.parse_rounds(parser)
    if unknown := set(scenarios) - set(SCENARIOS):
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))} (known: {', '.join(SCENARIOS)})")
    if not compare.TWO_CORES:
        raise SystemExit("scaling over two workers needs at least two cores")
    peers.ensure_installed(node=False)  # bench/.venv: the load generator signs in for refresh tokens
    _ensure_wrk()
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    with (
        servers(events=not args.no_events, database=args.database) as started,
        tempfile.TemporaryDirectory(prefix="pixie-wrk-") as tmp,
    ):
        labels = [server.label for server in started]
        for round_number in range(1, args.runs + 1):
            order = started if round_number % 2 else started[::-1]
            for scenario in scenarios:
                for server in order:
                    print(f"round {round_number}/{args.runs} {scenario:<10} {server.label}", file=sys.stderr)
                    if args.warmup:
                        _wrk(server, scenario, args, Path(tmp), measured=False)
                    result = _wrk(server, scenario, args, Path(tmp), measured=True)
                    runs.setdefault((server.label, scenario), []).append(result)
    table = summarize(runs, labels, scenarios)
    print(table)
    if not args.no_record:
        intro = (
            f"`pixie serve --workers 2` against one worker (bench/scaling.py): {args.runs} rounds x "
            f"{args.duration:g} s, wrk -t1 -c{args.connections}; one worker on core 0 with wrk on core 1, two "
            "workers and wrk unpinned on both cores"
            + (", PIXIE_EVENTS=off" if args.no_events else "")
            + (
                ", PostgreSQL (local, on the same two cores) with rate limits in Redis"
                if args.database == "postgres"
                else ""
            )
        )
        compare.record(compare._machine(), intro, table)


if __name__ == "__main__":
    main()
