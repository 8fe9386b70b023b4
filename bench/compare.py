"""Pixie against node-oidc-provider and Authlib, and optionally an earlier Pixie, in the same interleaved rounds.

One command (run on purpose, never from ``make test``; ``bench/README.md`` explains the method)::

    .venv/bin/python bench/compare.py                       # 3 rounds x 10 s, every scenario, the default targets
    .venv/bin/python bench/compare.py --quick               # 1 round x 4 s: a smoke run
    .venv/bin/python bench/compare.py --targets pixie-sqlite,node --scenarios cc,refresh
    .venv/bin/python bench/compare.py --baseline main       # + Pixie as built from main: before/after in one run

Targets: ``pixie-sqlite`` (the embedded default: SQLite file, WAL, synchronous=NORMAL), ``pixie-postgres`` (the
local PostgreSQL), ``pixie-noevents`` (SQLite with ``PIXIE_EVENTS=off``: what flow events cost),
``pixie-noaudit`` (events on, audit log off), ``pixie-sqlite-w2`` (``--workers 2``, not pinned; the scaling
figure comes from ``bench/scaling.py``, whose load generator leaves the workers most of both cores),
``pixie-granian`` (SQLite, the same app served by granian instead of uvicorn), and the peers ``node``
(node-oidc-provider) and ``authlib`` from ``bench/peers/``, installed there on first use. ``--baseline REF`` adds,
right after each Pixie target, its twin ``<target>@REF`` run by the Pixie of git revision REF
(``bench/baseline.py``), and a column with the ratio of each target to its twin. Servers are pinned to core 0 and
the load generator (``bench/loadgen.py``) to core 1 when the machine has two cores.

Output: one JSON line per run in ``bench/out/raw-<stamp>.jsonl``, a table of medians with ratios Pixie/peer (and
Pixie/baseline) on stdout, the same ratios paired round by round, and all of it appended to ``bench/RESULTS.md``
with date, commit and machine (unless ``--no-record``).
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

import baseline  # sibling modules (a script's own folder is first on sys.path)
import peers

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
"""Everything a run writes besides ``bench/RESULTS.md`` (raw JSON lines, profiles): git-ignored."""
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
    database_pid: int = 0
    """PostgreSQL's postmaster, for its CPU per operation (0: no database server of its own to measure)."""


def _wait_up(
    url: str, timeout: float = 60, *, process: subprocess.Popen[bytes] | None = None, log: Path | None = None
) -> None:
    """Until ``url`` answers; a ``process`` that exits first ends the wait at once (with the tail of its ``log``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:] if log and log.exists() else ""
            raise SystemExit(f"the server for {url} exited with {process.returncode} before it was up\n{tail}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2):
            return
        time.sleep(0.2)
    raise SystemExit(f"not up: {url}")


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
            "PIXIE_RATE_LIMIT_AUTHORIZE_IP": "10000000/minute",
            "PIXIE_RATE_LIMIT_AUTHORIZE_PENDING_IP": "10000000/minute",
            "PIXIE_EVENTS": "on" if events else "off",
        }
    )
    return env


def _seed(env: dict[str, str], pixie: Path = PIXIE) -> None:
    """The two bench clients and the user, with the commands every Pixie revision has (``--baseline`` seeds an
    older one the same way)."""
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
        # Its tokens are addressed to bench-confidential, the resource server that introspects them (RFC 7662 §4:
        # Pixie answers only the token's client or a client in its audience).
        [
            "clients",
            "create",
            "bench-public",
            "--public",
            "--redirect-uri",
            REDIRECT,
            *grants,
            "--scope",
            "api:read",
            "--audience",
            "bench-confidential",
        ],
    ]
    for command in commands:
        subprocess.run([str(pixie), *command], env=env, capture_output=True, check=True)
    subprocess.run(
        [str(pixie), "users", "create", "bench-user", "--password-stdin"],
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


def _postmaster_pid() -> int:
    """The local PostgreSQL's postmaster — a ``postgres`` process whose parent is not one — or 0 when none runs on
    this machine. Every backend is its child, so its process tree's CPU is PostgreSQL's own."""
    names: dict[int, str] = {}
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                names[int(entry.name)] = stat[stat.index("(") + 1 : stat.rindex(")")]
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    servers = ("postgres", "postmaster")
    found = [pid for pid, name in names.items() if name in servers and names.get(parents[pid]) not in servers]
    return min(found) if found else 0


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


def _start_pixie(label: str, port: int, workdir: Path, pixie: Path = PIXIE) -> Target:
    """A seeded Pixie target. ``label`` is a target name, or a twin ``<name>@REF`` run by the ``pixie`` of a
    baseline revision (launched only with what every revision has: ``serve --port`` and environment variables)."""
    kind = label.partition("@")[0]
    pg_name = None
    if kind == "pixie-postgres":
        pg_name, database_url = _postgres_database()
    else:
        database_url = f"sqlite:///{workdir / 'bench.db'}"
    env = _pixie_env(workdir, database_url, events=kind != "pixie-noevents")
    if kind == "pixie-noaudit":
        env["PIXIE_AUDIT_LOG"] = "off"
    _seed(env, pixie)
    workers = ["--workers", "2"] if kind == "pixie-sqlite-w2" else []
    pin = [] if workers else _pin("0")
    log = workdir / "server.log"
    command = [str(pixie), "serve", "--port", str(port), *workers]
    if kind == "pixie-granian":
        granian = pixie.parent / "granian"
        if not granian.exists():
            raise SystemExit(f"{label} needs granian: {pixie.parent / 'pip'} install -e '.[server,bench]'")
        command = [str(granian), *GRANIAN, "--port", str(port)]
        env["PIXIE_ISSUER"] = f"http://127.0.0.1:{port}"  # what ``pixie serve --port`` would set
    with log.open("wb") as out:
        process = subprocess.Popen([*pin, *command], env=env, stdout=out, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    target = Target(label, issuer, process)
    if pg_name:
        target.cleanup.append(lambda: _drop_postgres(pg_name))
        target.database_pid = _postmaster_pid()
    try:
        _wait_up(issuer + "/.well-known/oauth-authorization-server", process=process, log=log)
    except SystemExit:
        stop(process)
        for action in target.cleanup:
            action()  # type: ignore[operator]
        raise
    return target


def _start_peer(label: str, workdir: Path) -> Target:
    log = workdir / "server.log"
    if label == "node":
        process = peers.start_node(_pin("0"), log)
        target = Target("node-oidc-provider", peers.NODE_ISSUER, process)
        metadata = "/.well-known/openid-configuration"
    else:
        process = peers.start_authlib(_pin("0"), workdir, log)
        target = Target("authlib-flask", peers.AUTHLIB_ISSUER, process)
        metadata = "/.well-known/oauth-authorization-server"
    try:
        _wait_up(target.issuer + metadata, process=process, log=log)
    except SystemExit:
        stop(process)
        raise
    return target


def stop(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM, and up to ``timeout`` seconds for the server's graceful stop."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)


@contextlib.contextmanager
def targets(labels: list[str], baseline_pixie: Path | None = None) -> Iterator[list[Target]]:
    """Every target started (twins ``name@REF`` by ``baseline_pixie``), in a temporary directory; all stopped after."""
    started: list[Target] = []
    with tempfile.TemporaryDirectory(prefix="pixie-bench-") as tmp:
        try:
            for index, label in enumerate(labels):
                workdir = Path(tmp) / _file_name(label)
                workdir.mkdir()
                if label in ("node", "authlib"):
                    started.append(_start_peer(label, workdir))
                else:
                    pixie = baseline_pixie if "@" in label and baseline_pixie else PIXIE
                    started.append(_start_pixie(label, 3100 + index, workdir, pixie))
            yield started
        finally:
            for target in started:
                stop(target.process)
                for action in target.cleanup:
                    action()  # type: ignore[operator]


def _run_bench(target: Target, scenario: str, args: argparse.Namespace, raw: Path) -> None:
    command = [*_pin("1"), str(peers.PYTHON), str(peers.LOADGEN), "--issuer", target.issuer]
    command += ["--server-pid", str(target.process.pid), "--scenarios", scenario, "--label", target.label]
    command += ["--database-pid", str(target.database_pid)]
    command += ["-c", str(args.workers), "-t", str(args.duration), "--warmup", str(args.warmup), "--out", str(raw)]
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
    non-blocking, so the server is not paused) and writes a flame graph to ``bench/out/flame-*.svg``."""
    if not args.profile or not target.label.startswith("pixie"):
        return None
    if scenario != "cc":  # the load generator first signs each worker in (Argon2id): keep that out of the profile
        _wait_for_logins(target, args.workers)
    spy = ROOT / ".venv" / "bin" / "py-spy"
    if not spy.exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install -e '.[server,bench]'")
    suffix = {"flamegraph": "svg", "raw": "txt", "speedscope": "json"}[args.profile_format]
    out = OUT / f"flame-{_file_name(target.label)}-{scenario}.{suffix}"
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

    def cpu_per_op(label: str, scenario: str, key: str = "server_cpu") -> float | None:
        """Median server CPU µs per operation (the server's CPU share over the run / its throughput). Unlike
        ops/s it does not move when the load generator is starved, so it is the steadier cost measure. With
        ``key="database_cpu"``, PostgreSQL's own."""
        runs = [r for r in rows.get((label, scenario), []) if r.get(key) and r.get("ops_per_s")]
        return statistics.median(r[key] / r["ops_per_s"] * 1e6 for r in runs) if runs else None

    twins = _twins(labels)
    header = (
        "| scenario | server | ops/s (median) | p50 ms | p99 ms | errors | server CPU µs/op | PostgreSQL CPU µs/op "
        "| vs node | vs authlib |"
    )
    rule = "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    if twins:
        header, rule = header + " vs baseline |", rule + "---:|"
    lines = [header, rule]
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
            then = median(twins[label], scenario, "ops_per_s") if label in twins else None
            ratio_baseline = f"{ops / then:.2f}x" if then else ""
            if not ops:  # e.g. fresh logins on a slow machine: every flow still queued for its password check
                ratio_node = ratio_authlib = ratio_baseline = "none done"
            cpu = cpu_per_op(label, scenario)
            database = cpu_per_op(label, scenario, "database_cpu")
            lines.append(
                f"| {scenario} | {label} | {ops:,.0f} | {median(label, scenario, 'p50_ms'):.1f} | "
                f"{median(label, scenario, 'p99_ms'):.1f} | {errors} | {f'{cpu:,.0f}' if cpu else ''} | "
                f"{f'{database:,.0f}' if database else ''} | "
                f"{ratio_node} | {ratio_authlib} |" + (f" {ratio_baseline} |" if twins else "")
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


def _file_name(label: str) -> str:
    """``label`` as one path component (a baseline ref such as ``origin/main`` has slashes)."""
    return label.replace("/", "_")


def _twins(labels: list[str]) -> dict[str, str]:
    """Each current Pixie target that has a baseline twin (``--baseline``), mapped to the twin's label."""
    return {label.partition("@")[0]: label for label in labels if "@" in label and label.partition("@")[0] in labels}


def _per_op_cpu(run: dict[str, float]) -> float | None:
    return run["server_cpu"] / run["ops_per_s"] if run.get("server_cpu") and run.get("ops_per_s") else None


def _paired_ratios(
    rows: dict[tuple[str, str], list[dict[str, float]]], labels: list[str], scenarios: list[str]
) -> list[str]:
    """Each Pixie target's throughput against each peer's and against its baseline twin, round by round (the two
    ran back to back in that round), and the median of those. The table's ratios divide medians that may come from
    different rounds; these cancel the machine's drift between rounds (not the drift within one round), so a
    reader can see how far the rounds agree. Against the baseline, server CPU per operation is paired too: it
    does not move when the load generator, rather than the server, sets the pace."""
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
    for label, twin in _twins(labels).items():
        for scenario in scenarios:
            pairs = list(zip(rows.get((label, scenario), []), rows.get((twin, scenario), []), strict=False))
            ops = [a["ops_per_s"] / b["ops_per_s"] for a, b in pairs if a.get("ops_per_s") and b.get("ops_per_s")]
            cpu = [now / then for now, then in ((_per_op_cpu(a), _per_op_cpu(b)) for a, b in pairs) if now and then]
            if ops:
                text = f"Paired vs {twin}, {scenario}, {label}: ops/s per round {', '.join(f'{r:.2f}' for r in ops)}"
                text += f"; median {statistics.median(ops):.2f}x"
                if cpu:
                    text += f"; server CPU per op median {statistics.median(cpu):.2f}x (below 1: cheaper now)"
                lines.append(text)
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
    parser.add_argument("--baseline", metavar="REF", help="also run each Pixie target as built from git revision REF")
    parser.add_argument("--profile", action="store_true", help="py-spy flame graphs of Pixie in bench/out/")
    parser.add_argument("--profile-format", default="flamegraph", choices=["flamegraph", "raw", "speedscope"])
    parser.add_argument("--profile-rate", type=int, default=250, help="py-spy samples per second")
    args, scenarios = parse_rounds(parser)
    if unknown := set(scenarios) - set(SCENARIOS):
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))} (known: {', '.join(SCENARIOS)})")
    labels = [label.strip() for label in args.targets.split(",") if label.strip()]
    baseline_pixie, baseline_note = None, ""
    if args.baseline:
        sha = baseline.resolve(args.baseline)
        baseline_pixie = baseline.install(sha)
        baseline_note = f"; baseline {args.baseline} = commit {sha[:10]}"
        labels = [
            twin
            for label in labels
            for twin in ([label, f"{label}@{args.baseline}"] if label.startswith("pixie") else [label])
        ]
    peers.ensure_installed(node="node" in labels)
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    raw = OUT / f"raw-{stamp}.jsonl"
    with targets(labels, baseline_pixie) as started:
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
            f"load generator on core 1{baseline_note}; raw: bench/out/{raw.name}"
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
