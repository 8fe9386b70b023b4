"""The floor under each server of ``bench/compare.py``: what one HTTP request costs a server that does nothing else,
in Python as ``pixie serve`` runs (uvicorn, httptools, uvloop) and in Node (its ``http`` module), measured in the
same interleaved rounds, with the same load generator, pins and CPU accounting as Pixie and node-oidc-provider.

Run on purpose, never from ``make test`` (about 6 minutes with the defaults)::

    .venv/bin/python bench/floor.py
    .venv/bin/python bench/floor.py --runs 1 --duration 4 --no-record      # a smoke run

Why: ``compare.py`` reports each server's CPU per operation, and against node-oidc-provider Pixie's throughput ratio
follows the ratio of those costs, since each server is bound by its one core. A ratio target is therefore a CPU
budget: at 1.5x node, Pixie may spend at most node's CPU per operation / 1.5. Part of every operation is the
HTTP stack's, paid before any OAuth work: this script measures that part for each language, so the budget left
for Pixie's own work can be read off, and compared with what node-oidc-provider spends above its own floor.

Floor servers (each answers the load generator's ``cc`` scenario: metadata, then ``POST /token`` with the form
read and a random token in a JSON answer marked ``no-store``; no client check, no storage, no signature):

``floor-asgi``
    a bare ASGI callable in uvicorn with the options ``pixie serve`` uses (bounded httptools parser, uvloop, no
    access log).
``floor-starlette``
    the same in a one-route Starlette app (``Request.form()``, ``JSONResponse``): what the framework adds.
``floor-node``
    Node's ``http.createServer`` (``bench/peers/floor.mjs``), the runtime node-oidc-provider's framework sits on.

``pixie-sqlite`` and ``node`` (node-oidc-provider) run every scenario asked for; the floors run ``cc`` only (one
request per operation). The budget table multiplies the floors by each scenario's HTTP requests per operation
(the load generator counts them: an SSO flow is an authorization request and a code exchange).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import compare  # sibling module (a script's own folder is first on sys.path)
import peers

FLOORS = {"floor-asgi": 3201, "floor-starlette": 3202, "floor-node": 3203}
SCENARIOS = ("cc", "sso", "refresh", "introspect")
TARGET_RATIO = 1.5
"""The ratio issue 27 asks of Pixie on SQLite against node-oidc-provider."""


# --- the Python floor servers (run as ``floor.py --serve KIND PORT`` in the project's venv) ------------------------


def _token_answer(form: dict[str, str], authorization: bool) -> tuple[int, bytes]:
    if form.get("grant_type") != "client_credentials" or not authorization:
        return 400, b'{"error":"invalid_request"}'
    token = secrets.token_urlsafe(32)
    body = {"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": form.get("scope", "")}
    return 200, json.dumps(body).encode()


def asgi_app(issuer: str) -> Any:
    metadata = json.dumps({"issuer": issuer, "token_endpoint": f"{issuer}/token"}).encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "GET" and scope["path"] == "/.well-known/oauth-authorization-server":
            status, body, headers = 200, metadata, [(b"content-type", b"application/json")]
        elif scope["method"] == "POST" and scope["path"] == "/token":
            chunks = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            form = dict(parse_qsl(b"".join(chunks).decode()))
            authorization = any(name == b"authorization" for name, _ in scope["headers"])
            status, body = _token_answer(form, authorization)
            headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        else:
            status, body, headers = 404, b"", []
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def starlette_app(issuer: str) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def metadata(request: Request) -> Response:
        return JSONResponse({"issuer": issuer, "token_endpoint": f"{issuer}/token"})

    async def token(request: Request) -> Response:
        form = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
        status, body = _token_answer(form, "authorization" in request.headers)
        return Response(body, status, media_type="application/json", headers={"Cache-Control": "no-store"})

    routes = [
        Route("/.well-known/oauth-authorization-server", metadata, methods=["GET"]),
        Route("/token", token, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def serve(kind: str, port: int) -> None:
    """uvicorn as ``pixie serve`` configures it (``pixie.server.uvicorn_options``, no proxy headers)."""
    import uvicorn

    from pixie.server.http_limits import HttpLimits, limited_httptools

    issuer = f"http://127.0.0.1:{port}"
    app = asgi_app(issuer) if kind == "floor-asgi" else starlette_app(issuer)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        http=limited_httptools(HttpLimits.from_env({})),
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
    uvicorn.Server(config).run()


# --- the run ---------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def floor_targets() -> Iterator[list[compare.Target]]:
    started: list[compare.Target] = []
    with tempfile.TemporaryDirectory(prefix="pixie-floor-") as tmp:
        try:
            for label, port in FLOORS.items():
                log = Path(tmp) / f"{label}.log"
                if label == "floor-node":
                    command = ["node", str(peers.HERE / "floor.mjs")]
                else:
                    command = [sys.executable, str(Path(__file__)), "--serve", label, str(port)]
                with log.open("wb") as out:
                    process = subprocess.Popen(
                        [*compare._pin("0"), *command],
                        env={**os.environ, "PORT": str(port)},
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                target = compare.Target(label, f"http://127.0.0.1:{port}", process)
                started.append(target)
                compare._wait_up(f"{target.issuer}/.well-known/oauth-authorization-server", process=process, log=log)
            yield started
        finally:
            for target in started:
                compare.stop(target.process)


def _cpu_per_request(run: dict[str, Any]) -> float | None:
    """Server CPU µs per HTTP request of the run (its operations times the requests each took)."""
    if not run.get("server_cpu") or not run.get("ops_per_s"):
        return None
    return run["server_cpu"] / (run["ops_per_s"] * (run.get("http_req_per_op") or 1)) * 1e6


def summarize(raw: Path, scenarios: list[str]) -> str:
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for line in raw.read_text().splitlines():
        run = json.loads(line)
        rows.setdefault((run["label"], run["scenario"]), []).append(run)

    def median(label: str, scenario: str, key: str) -> float | None:
        values = [float(r[key]) for r in rows.get((label, scenario), []) if r.get(key)]
        return statistics.median(values) if values else None

    def per_op(label: str, scenario: str) -> float | None:
        values = [r["server_cpu"] / r["ops_per_s"] * 1e6 for r in rows.get((label, scenario), []) if _cpu_per_op(r)]
        return statistics.median(values) if values else None

    def per_request(label: str, scenario: str) -> float | None:
        values = [v for r in rows.get((label, scenario), []) if (v := _cpu_per_request(r))]
        return statistics.median(values) if values else None

    lines = [
        "| server | scenario | ops/s (median) | errors | HTTP requests/op | server CPU µs/op | µs per HTTP request |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for (label, scenario), runs in rows.items():
        ops, cpu, each = median(label, scenario, "ops_per_s"), per_op(label, scenario), per_request(label, scenario)
        requests = median(label, scenario, "http_req_per_op") or 1
        errors = sum(int(r.get("errors") or 0) for r in runs)
        lines.append(
            f"| {label} | {scenario} | {ops or 0:,.0f} | {errors} | {requests:.2f} | "
            f"{f'{cpu:,.0f}' if cpu else ''} | {f'{each:,.0f}' if each else ''} |"
        )
    python_floor, starlette_floor = per_request("floor-asgi", "cc"), per_request("floor-starlette", "cc")
    node_floor = per_request("floor-node", "cc")
    if not (python_floor and starlette_floor and node_floor):
        return "\n".join(lines)
    lines += [
        "",
        f"Floors per HTTP request: Python (uvicorn, bare ASGI) {python_floor:,.0f} µs, + Starlette "
        f"{starlette_floor:,.0f} µs, Node (http) {node_floor:,.0f} µs.",
        "",
        f"| scenario | node CPU µs/op | Pixie CPU µs/op | ops/s Pixie / node | budget at {TARGET_RATIO:g}x "
        "| Python floor | budget above Python floor | Pixie above Python floor | node above Node floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in scenarios:
        node, pixie = per_op("node-oidc-provider", scenario), per_op("pixie-sqlite", scenario)
        node_ops, pixie_ops = (
            median("node-oidc-provider", scenario, "ops_per_s"),
            median("pixie-sqlite", scenario, "ops_per_s"),
        )
        if not (node and pixie and node_ops and pixie_ops):
            continue
        requests = median("pixie-sqlite", scenario, "http_req_per_op") or 1
        node_requests = median("node-oidc-provider", scenario, "http_req_per_op") or 1
        budget = node / TARGET_RATIO
        floor = python_floor * requests
        lines.append(
            f"| {scenario} | {node:,.0f} | {pixie:,.0f} | {pixie_ops / node_ops:.2f}x | {budget:,.0f} | {floor:,.0f} | "
            f"{budget - floor:,.0f} | {pixie - floor:,.0f} | {node - node_floor * node_requests:,.0f} |"
        )
    return "\n".join(lines)


def _cpu_per_op(run: dict[str, Any]) -> bool:
    return bool(run.get("server_cpu") and run.get("ops_per_s"))


def main() -> None:
    parser = compare.round_parser(__doc__, SCENARIOS)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)
    args, scenarios = compare.parse_rounds(parser)
    if args.serve:
        kind, port = args.serve
        serve(kind, int(port))
        return
    if unknown := set(scenarios) - set(SCENARIOS):
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))} (known: {', '.join(SCENARIOS)})")
    args.profile = False  # compare._run_bench reads it
    peers.ensure_installed(node=True)
    compare.OUT.mkdir(parents=True, exist_ok=True)
    raw = compare.OUT / f"floor-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.jsonl"
    with compare.targets(["pixie-sqlite", "node"]) as servers, floor_targets() as floors:
        everyone = [*servers, *floors]
        for round_number in range(1, args.runs + 1):
            order = everyone if round_number % 2 else everyone[::-1]  # as compare.py: no server always follows one
            for scenario in scenarios:
                for target in order:
                    if target.label.startswith("floor") and scenario != "cc":
                        continue
                    print(f"round {round_number}/{args.runs} {scenario:<10} {target.label}", file=sys.stderr)
                    compare._run_bench(target, scenario, args, raw)
    table = summarize(raw, scenarios)
    print(table)
    if not args.no_record:
        intro = (
            f"The HTTP floor under each server (bench/floor.py): {args.runs} rounds x {args.duration:g} s, "
            f"{args.workers} workers, servers on core 0, load generator on core 1; raw: bench/out/{raw.name}"
        )
        compare.record(compare._machine(), intro, table)


if __name__ == "__main__":
    main()
