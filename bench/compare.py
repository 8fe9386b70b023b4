"""Pixie against node-oidc-provider and Authlib, in the same interleaved rounds on this machine (issue 10).

One command (run on purpose, never from ``make test``)::

    .venv/bin/python bench/compare.py                       # 3 rounds x 10 s, every scenario, every target
    .venv/bin/python bench/compare.py --quick               # 1 round x 4 s: a smoke run
    .venv/bin/python bench/compare.py --targets pixie-sqlite,node --scenarios cc,refresh

Targets: ``pixie-sqlite`` (the embedded default: SQLite file, WAL, synchronous=NORMAL), ``pixie-postgres`` (the
local PostgreSQL), ``pixie-noevents`` (SQLite with ``PIXIE_EVENTS=off``: what flow events cost),
``pixie-noaudit`` (events on, audit log off), ``pixie-sqlite-w2`` (``--workers 2``, not pinned; the scaling
figure comes from ``bench/scaling.py``, whose load generator leaves the workers most of both cores),
``pixie-granian`` (SQLite, the same app served by granian instead of uvicorn), and the peers ``node`` and
``authlib`` from ``../shared/peers`` (copied to ``bench/.peers`` and installed there on first use). Servers are
pinned to core 0 and the load generator (the peers' ``bench.py``) to core 1 when the machine has two cores.

Output: one JSON line per run in ``bench/results/raw-<stamp>.jsonl``, a table of medians with ratios
Pixie/peer on stdout, and the same table appended to ``bench/RESULTS.md`` with date, commit and machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS_SRC = ROOT.parent / "shared" / "peers"
PEERS = ROOT / "bench" / ".peers"
RESULTS = ROOT / "bench" / "results"
PIXIE = ROOT / ".venv" / "bin" / "pixie"
SCENARIOS = ("cc", "authcode", "sso", "refresh", "introspect")
REDIRECT = "http://127.0.0.1:9999/cb"
TWO_CORES = (os.cpu_count() or 1) >= 2


def _pin(cores: str) -> list[str]:
    return ["taskset", "-c", cores] if TWO_CORES and shutil.which("taskset") else []


@dataclass
class Target:
    label: str
    issuer: str
    process: subprocess.Popen[bytes]
    cleanup: list[object] = field(default_factory=list)


def _wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2):
            return
        time.sleep(0.2)
    raise SystemExit(f"not up: {url}")


def _ensure_peers() -> None:
    if not PEERS.exists():
        shutil.copytree(PEERS_SRC, PEERS)
        subprocess.run(["chmod", "-R", "u+w", str(PEERS)], check=True)
    if not (PEERS / ".venv" / "bin" / "python").exists() or not (PEERS / "node-oidc" / "node_modules").exists():
        subprocess.run(["bash", str(PEERS / "setup.sh")], check=True)


def _pixie_env(workdir: Path, database_url: str, *, events: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXIE_")}
    env.update(
        {
            "PIXIE_DATABASE_URL": database_url,
            "PIXIE_SECRET_FILE": str(workdir / "pixie.secret"),
            "PIXIE_AUDIT_LOG": str(workdir / "audit.jsonl"),
            # The load comes from one IP and one client: limits sized for real traffic would throttle the bench.
            "PIXIE_RATE_LIMIT_TOKEN_CLIENT": "10000000/minute",
            "PIXIE_RATE_LIMIT_TOKEN_IP": "10000000/minute",
            "PIXIE_EVENTS": "on" if events else "off",
        }
    )
    return env


def _seed(env: dict[str, str]) -> None:
    grants = ["--grant-type", "authorization_code", "--grant-type", "refresh_token"]
    commands = [
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
    ]
    for command in commands:
        subprocess.run([str(PIXIE), *command], env=env, capture_output=True, check=True)
    subprocess.run(
        [str(PIXIE), "users", "create", "bench-user", "--password-stdin"],
        env=env,
        input=b"bench-password\n",
        capture_output=True,
        check=True,
    )


def _postgres_database() -> tuple[str, str]:
    name = f"pixie_bench_{secrets.token_hex(4)}"
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-qc", f'CREATE DATABASE "{name}"'], check=True
    )
    return name, f"postgresql://postgres@127.0.0.1:5432/{name}"


def _drop_postgres(name: str) -> None:
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-qc",
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        ],
        check=False,
    )


# The same app under granian (Rust HTTP/1.1 server) instead of uvicorn: one worker, one runtime thread, uvloop.
GRANIAN = [
    "--interface", "asgi", "--factory", "pixie.server.app:app_from_env", "--host", "127.0.0.1",
    "--workers", "1", "--runtime-threads", "1", "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
]  # fmt: skip


def _start_pixie(label: str, port: int, workdir: Path) -> Target:
    pg_name = None
    if label == "pixie-postgres":
        pg_name, database_url = _postgres_database()
    else:
        database_url = f"sqlite:///{workdir / 'bench.db'}"
    env = _pixie_env(workdir, database_url, events=label != "pixie-noevents")
    if label == "pixie-noaudit":
        env["PIXIE_AUDIT_LOG"] = "off"
    _seed(env)
    workers = ["--workers", "2"] if label == "pixie-sqlite-w2" else []
    pin = [] if workers else _pin("0")
    log = (workdir / "server.log").open("wb")
    command = [str(PIXIE), "serve", "--port", str(port), *workers]
    if label == "pixie-granian":
        granian = ROOT / ".venv" / "bin" / "granian"
        if not granian.exists():
            raise SystemExit("pixie-granian needs granian: .venv/bin/pip install -e '.[server,bench]'")
        command = [str(granian), *GRANIAN, "--port", str(port)]
        env["PIXIE_ISSUER"] = f"http://127.0.0.1:{port}"  # what ``pixie serve --port`` would set
    process = subprocess.Popen([*pin, *command], env=env, stdout=log, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    _wait_up(issuer + "/.well-known/oauth-authorization-server")
    target = Target(label, issuer, process)
    if pg_name:
        target.cleanup.append(lambda: _drop_postgres(pg_name))
    return target


def _start_peer(label: str, workdir: Path) -> Target:
    if label == "node":
        process = subprocess.Popen(
            [*_pin("0"), "node", "server.mjs"],
            cwd=PEERS / "node-oidc",
            env={**os.environ, "PORT": "3001"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        issuer = "http://127.0.0.1:3001"
        _wait_up(issuer + "/.well-known/openid-configuration")
        return Target("node-oidc-provider", issuer, process)
    for suffix in ("", "-wal", "-shm"):
        (PEERS / "authlib" / f"bench.sqlite{suffix}").unlink(missing_ok=True)
    python = str(PEERS / ".venv" / "bin" / "python")
    subprocess.run([python, "authlib/app.py", "init-db"], cwd=PEERS, check=True, capture_output=True)
    gunicorn = str(PEERS / ".venv" / "bin" / "gunicorn")
    process = subprocess.Popen(
        [
            *_pin("0"),
            gunicorn,
            "--chdir",
            "authlib",
            "-b",
            "127.0.0.1:3002",
            "-w",
            "2",
            "-k",
            "gthread",
            "--threads",
            "4",
            "--log-level",
            "warning",
            "app:app",
        ],
        cwd=PEERS,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    issuer = "http://127.0.0.1:3002"
    _wait_up(issuer + "/.well-known/oauth-authorization-server")
    return Target("authlib-flask", issuer, process)


def stop(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM, and up to ``timeout`` seconds for the server's graceful stop."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)


@contextlib.contextmanager
def targets(labels: list[str]) -> Iterator[list[Target]]:
    started: list[Target] = []
    with tempfile.TemporaryDirectory(prefix="pixie-bench-") as tmp:
        try:
            for index, label in enumerate(labels):
                workdir = Path(tmp) / label
                workdir.mkdir()
                if label in ("node", "authlib"):
                    started.append(_start_peer(label, workdir))
                else:
                    started.append(_start_pixie(label, 3100 + index, workdir))
            yield started
        finally:
            for target in started:
                stop(target.process)
                for action in target.cleanup:
                    action()  # type: ignore[operator]


def _run_bench(target: Target, scenario: str, args: argparse.Namespace, raw: Path) -> None:
    python = str(PEERS / ".venv" / "bin" / "python")
    command = [
        *_pin("1"),
        python,
        str(PEERS / "bench.py"),
        "--issuer",
        target.issuer,
        "--server-pid",
        str(target.process.pid),
        "--scenarios",
        scenario,
        "-c",
        str(args.workers),
        "-t",
        str(args.duration),
        "--warmup",
        str(args.warmup),
        "--runs",
        "1",
        "--pause",
        "0",
        "--label",
        target.label,
        "--out",
        str(raw),
        "--introspect-token",
        "refresh_token",
    ]
    bench = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    profiler = _start_profiler(target, scenario, args)
    if bench.wait() != 0:
        raise SystemExit(f"the load generator failed on {target.label} {scenario}")
    if profiler is not None:
        profiler.wait(timeout=60)


def _wait_for_logins(target: Target, count: int, timeout: float = 180) -> None:
    """Until the server has answered ``count`` more POST /login than now (read from its own /metrics)."""

    def logins() -> float:
        with urllib.request.urlopen(target.issuer + "/metrics", timeout=5) as response:
            text = response.read().decode()
        prefix = 'pixie_http_requests_total{endpoint="/login",method="POST"'
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))

    goal, deadline = logins() + count, time.monotonic() + timeout
    while logins() < goal and time.monotonic() < deadline:
        time.sleep(0.1)


def _start_profiler(target: Target, scenario: str, args: argparse.Namespace) -> subprocess.Popen[bytes] | None:
    """With ``--profile``: py-spy samples a Pixie server through the run (pinned beside the load generator,
    non-blocking, so the server is not paused) and writes a flame graph to ``bench/results/flame-*.svg``."""
    if not args.profile or not target.label.startswith("pixie"):
        return None
    if scenario != "cc":  # the load generator first signs each worker in (Argon2id): keep that out of the profile
        _wait_for_logins(target, args.workers)
    spy = ROOT / ".venv" / "bin" / "py-spy"
    if not spy.exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install -e '.[server,bench]'")
    suffix = {"flamegraph": "svg", "raw": "txt", "speedscope": "json"}[args.profile_format]
    out = RESULTS / f"flame-{target.label}-{scenario}.{suffix}"
    duration = str(max(1, round(args.warmup + args.duration)))
    command = [*_pin("1"), str(spy), "record", "--pid", str(target.process.pid), "--subprocesses", "--nonblocking"]
    command += ["--rate", str(args.profile_rate), "--duration", duration]
    command += ["--format", args.profile_format, "--output", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize(raw: Path) -> str:
    rows: dict[tuple[str, str], list[dict[str, float]]] = {}
    for line in raw.read_text().splitlines():
        run = json.loads(line)
        rows.setdefault((run["label"], run["scenario"]), []).append(run)
    labels = list(dict.fromkeys(label for label, _ in rows))
    scenarios = list(dict.fromkeys(scenario for _, scenario in rows))

    def median(label: str, scenario: str, key: str) -> float | None:
        runs = rows.get((label, scenario))
        return statistics.median(float(r.get(key) or 0) for r in runs) if runs else None

    def cpu_per_op(label: str, scenario: str) -> float | None:
        """Median server CPU µs per operation (the server's CPU share over the run / its throughput). Unlike
        ops/s it does not move when the load generator is starved, so it is the steadier cost measure."""
        runs = [r for r in rows.get((label, scenario), []) if r.get("server_cpu") and r.get("ops_per_s")]
        return statistics.median(r["server_cpu"] / r["ops_per_s"] * 1e6 for r in runs) if runs else None

    lines = [
        "| scenario | server | ops/s (median) | p50 ms | p99 ms | errors | server CPU µs/op | vs node | vs authlib |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in scenarios:
        node = median("node-oidc-provider", scenario, "ops_per_s")
        authlib = median("authlib-flask", scenario, "ops_per_s")
        for label in labels:
            ops = median(label, scenario, "ops_per_s")
            if ops is None:
                continue
            errors = sum(int(r.get("errors") or 0) for r in rows[(label, scenario)])
            ratio_node = f"{ops / node:.2f}x" if node and label.startswith("pixie") else ""
            ratio_authlib = f"{ops / authlib:.2f}x" if authlib and label.startswith("pixie") else ""
            if not ops:  # e.g. fresh logins on a slow machine: every flow still queued for its password check
                ratio_node = ratio_authlib = "none done"
            cpu = cpu_per_op(label, scenario)
            lines.append(
                f"| {scenario} | {label} | {ops:,.0f} | {median(label, scenario, 'p50_ms'):.1f} | "
                f"{median(label, scenario, 'p99_ms'):.1f} | {errors} | {f'{cpu:,.0f}' if cpu else ''} | "
                f"{ratio_node} | {ratio_authlib} |"
            )
    for scenario in scenarios:  # what flow events cost: server CPU per operation, events on against off
        on, off = cpu_per_op("pixie-sqlite", scenario), cpu_per_op("pixie-noevents", scenario)
        if on and off:
            lines.append(f"\nEvents on/off, {scenario}: server CPU per op {on:,.1f} / {off:,.1f} µs = {on / off:.3f}")
            # The machine's speed drifts between rounds, for every server alike: a ratio within each round (the two
            # servers ran back to back) is steadier than the ratio of medians taken over different rounds.
            paired = [
                (a["server_cpu"] / a["ops_per_s"]) / (b["server_cpu"] / b["ops_per_s"])
                for a, b in zip(rows[("pixie-sqlite", scenario)], rows[("pixie-noevents", scenario)], strict=False)
                if a.get("server_cpu") and a.get("ops_per_s") and b.get("server_cpu") and b.get("ops_per_s")
            ]
            if paired:
                each = ", ".join(f"{ratio:.3f}" for ratio in paired)
                lines.append(f"  per round: {each}; median {statistics.median(paired):.3f}")
    lines += _paired_ratios(rows, labels, scenarios)
    return "\n".join(lines)


def _paired_ratios(
    rows: dict[tuple[str, str], list[dict[str, float]]], labels: list[str], scenarios: list[str]
) -> list[str]:
    """Each Pixie target's throughput against each peer's, round by round (the two ran back to back in that round),
    and the median of those. The table's ratios divide medians that may come from different rounds; these cancel
    the machine's drift between rounds (not the drift within one, which moved single ratios by up to 0.5 on
    2026-12-03), so a reader can see how far the rounds agree."""
    lines: list[str] = []
    for peer in ("node-oidc-provider", "authlib-flask"):
        for scenario in scenarios:
            theirs = rows.get((peer, scenario), [])
            for label in labels:
                if not label.startswith("pixie") or not theirs:
                    continue
                pairs = zip(rows.get((label, scenario), []), theirs, strict=False)
                ratios = [
                    a["ops_per_s"] / b["ops_per_s"] for a, b in pairs if a.get("ops_per_s") and b.get("ops_per_s")
                ]
                if ratios:
                    each = ", ".join(f"{ratio:.2f}" for ratio in ratios)
                    median = statistics.median(ratios)
                    lines.append(f"Paired vs {peer}, {scenario}, {label}: per round {each}; median {median:.2f}x")
    return ["", *lines] if lines else []


def _password_hash_note() -> str:
    """The fresh-login scenario is bound by the password hash: say which (Pixie's own hasher, as it runs)."""
    probe = "from pixie.passwords import _HASHER as h; print(h.time_cost, h.memory_cost, h.parallelism)"
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", probe], capture_output=True, text=True)
    time_cost, memory_kib, lanes = out.stdout.split()
    return (
        f"authcode: every Pixie login verifies an Argon2id hash (t={time_cost}, m={int(memory_kib) // 1024} MiB, "
        f"p={lanes}); the peers log in without a password."
    )


def _machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model or platform.processor()}, Python {platform.python_version()}"


def round_parser(doc: str | None, scenarios: tuple[str, ...]) -> argparse.ArgumentParser:
    """The options every interleaved-rounds benchmark here takes: scenarios, rounds, their length, --quick and
    --no-record (read back with :func:`parse_rounds`)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default=",".join(scenarios))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--quick", action="store_true", help="1 round of 4 s")
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    return parser


def parse_rounds(parser: argparse.ArgumentParser) -> tuple[argparse.Namespace, list[str]]:
    """The parsed options (``--quick`` applied) and the scenarios asked for."""
    args = parser.parse_args()
    if args.quick:
        args.runs, args.duration, args.warmup = 1, 4, 1
    return args, [s.strip() for s in args.scenarios.split(",") if s.strip()]


def main() -> None:
    parser = round_parser(__doc__, SCENARIOS)
    parser.add_argument("--targets", default="pixie-sqlite,pixie-postgres,node,authlib")
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--profile", action="store_true", help="py-spy flame graphs of Pixie in bench/results/")
    parser.add_argument("--profile-format", default="flamegraph", choices=["flamegraph", "raw", "speedscope"])
    parser.add_argument("--profile-rate", type=int, default=250, help="py-spy samples per second")
    args, scenarios = parse_rounds(parser)
    labels = [label.strip() for label in args.targets.split(",") if label.strip()]
    _ensure_peers()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    raw = RESULTS / f"raw-{stamp}.jsonl"
    with targets(labels) as started:
        for round_number in range(1, args.runs + 1):
            # Every other round runs the targets in reverse order, so no server always follows a given one (the
            # machine drifts: paired ratios such as events on/off would otherwise carry an order bias).
            order = started if round_number % 2 else started[::-1]
            for scenario in scenarios:
                for target in order:
                    print(f"round {round_number}/{args.runs} {scenario:<10} {target.label}", file=sys.stderr)
                    _run_bench(target, scenario, args, raw)
    table = summarize(raw)
    if "authcode" in scenarios:
        table += "\n\n" + _password_hash_note()
    print(table)
    if not args.no_record:
        intro = (
            f"{args.runs} rounds x {args.duration:g} s, {args.workers} workers, servers on core 0, "
            f"load generator on core 1; raw: bench/results/{raw.name}"
        )
        record(_machine(), intro, table)


def record(title: str, intro: str, table: str) -> None:
    """Append a run to ``bench/RESULTS.md``: a heading with the date, commit and ``title``, then ``intro`` and
    ``table`` (earlier runs stay, so regressions show)."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with (ROOT / "bench" / "RESULTS.md").open("a") as out:
        out.write(f"\n## {stamp} · commit {commit.stdout.strip()} · {title}\n\n{intro}\n\n{table}\n")


if __name__ == "__main__":
    main()
