"""What DPoP costs the server: CPU per refresh grant and per protected API request, with DPoP against Bearer.

Run on purpose, never from ``make test`` (about a minute)::

    .venv/bin/python bench/dpop.py [--rounds 7] [--requests 640]

* **Token endpoint** — the refresh grant (rotation) through Pixie's app in process over ASGI, on the SQLite
  database ``compare.py`` seeds: one side sends plain refresh requests, the other the same requests with a DPoP
  proof, which Pixie checks (signature, claims), records in the replay window (one more insert) and binds into the
  new access token (``cnf.jkt``). Chains of refresh tokens run 32 at a time.
* **Resource server** — ``BearerAuthMiddleware`` in front of an inline Starlette route, called in process over ASGI:
  a Bearer token, against a DPoP-bound token with its proof, which adds the proof's signature check, its claims and
  the in-memory replay cache.

Proofs are made before each timed batch (their signing is the client's cost, not the server's). Each side's figure
is process CPU time (``time.process_time``) over a batch divided by its requests; the sides alternate over
``--rounds`` rounds and the median of each is reported with their ratio. Targets: at most 1.3x at the token
endpoint and 2x at the resource server.
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import compare
import instructions
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from pixie.client.dpop import DPoPKey
from pixie.resource import BearerAuthMiddleware, JWTVerifier
from pixie.resource import jws as pixie_jws
from pixie.resource.credentials import ResourceDPoP

ISSUER = "http://127.0.0.1:9000"
AUDIENCE = "https://api.example"
CHAINS = instructions.CONCURRENCY


async def _timed(batch: Callable[[], Awaitable[object]], requests: int) -> float:
    """CPU microseconds per request of one batch."""
    start = time.process_time()
    await batch()
    return (time.process_time() - start) / requests * 1e6


# --- token endpoint ------------------------------------------------------------------------------------------------


async def token_endpoint(rounds: int, requests: int, workdir: Path) -> tuple[list[float], list[float]]:
    bearer_tokens = await instructions._seed_refresh_tokens(workdir, CHAINS, "bearer")
    dpop_tokens = await instructions._seed_refresh_tokens(workdir, CHAINS, "dpop")
    app = instructions._app(True, workdir, ISSUER)
    stop = await instructions._lifespan(app)
    basic = (b"authorization", b"Basic " + base64.b64encode(b"bench-confidential:bench-secret"))
    keys = [DPoPKey.generate() for _ in range(CHAINS)]
    steps = requests // CHAINS

    async def chain(tokens: list[str], index: int, proofs: list[str] | None) -> None:
        for step in range(steps):
            body = urlencode({"grant_type": "refresh_token", "refresh_token": tokens[index]}).encode()
            headers = [basic] if proofs is None else [basic, (b"dpop", proofs[step].encode())]
            tokens[index] = (await instructions._post(app, headers, body))["refresh_token"]

    async def bearer_batch() -> None:
        await asyncio.gather(*(chain(bearer_tokens, i, None) for i in range(CHAINS)))

    bearer, dpop = [], []
    try:
        await bearer_batch()  # warm-up: caches, first statements
        for _ in range(rounds):
            bearer.append(await _timed(bearer_batch, steps * CHAINS))
            proofs = [[keys[i].proof("POST", f"{ISSUER}/token") for _ in range(steps)] for i in range(CHAINS)]

            async def dpop_batch(proofs: list[list[str]] = proofs) -> None:
                await asyncio.gather(*(chain(dpop_tokens, i, proofs[i]) for i in range(CHAINS)))

            dpop.append(await _timed(dpop_batch, steps * CHAINS))
    finally:
        await stop()
    return bearer, dpop


# --- resource server -----------------------------------------------------------------------------------------------


class _Keys:
    """The issuer's one key, handed to the verifier directly (a warm JWKS cache, without HTTP)."""

    def __init__(self, key: ECKey) -> None:
        self._key = pixie_jws.import_jwk({**key.as_dict(private=False), "kid": key.thumbprint()})

    async def key_for(self, kid: str | None, alg: str) -> pixie_jws.VerificationKey:
        return self._key

    async def aclose(self) -> None:
        return None


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/api/hello",
        "raw_path": b"/api/hello",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"api.example"), *headers],
        "server": ("127.0.0.1", 443),
        "client": ("127.0.0.1", 5000),
    }


async def resource_server(rounds: int, requests: int) -> tuple[list[float], list[float]]:
    issuer_key = ECKey.generate_key("P-256")
    client_key = DPoPKey.generate()
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "client_id": "spa",
        "scope": "properties:read",
        "iat": now,
        "exp": now + 3600,
        "jti": "k9vYb1dVhV0tEnyG3nPZ2w",
    }
    header = {"alg": "ES256", "typ": "at+jwt", "kid": issuer_key.thumbprint()}
    bearer_token = jwt.encode(header, claims, issuer_key)
    bound_token = jwt.encode(header, {**claims, "cnf": {"jkt": client_key.thumbprint}}, issuer_key)

    async def hello(request: Request) -> Response:
        return PlainTextResponse("hi")

    verifier = JWTVerifier(ISSUER, AUDIENCE, jwks=_Keys(issuer_key))
    app = BearerAuthMiddleware(Starlette(routes=[Route("/api/hello", hello)]), verifier, dpop=ResourceDPoP())
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    async def call(headers: list[tuple[bytes, bytes]]) -> None:
        await app(_scope(headers), receive, send)
        if status.pop() != 200:
            raise SystemExit("the protected route did not answer 200")

    bearer_headers = [(b"authorization", f"Bearer {bearer_token}".encode())]

    async def bearer_batch() -> None:
        for _ in range(requests):
            await call(bearer_headers)

    bearer, dpop = [], []
    await bearer_batch()
    for _ in range(rounds):
        bearer.append(await _timed(bearer_batch, requests))
        url = "https://api.example/api/hello"
        batch_headers = [
            [
                (b"authorization", f"DPoP {bound_token}".encode()),
                (b"dpop", client_key.proof("GET", url, access_token=bound_token).encode()),
            ]
            for _ in range(requests)
        ]

        async def dpop_batch(batch_headers: list[list[tuple[bytes, bytes]]] = batch_headers) -> None:
            for headers in batch_headers:
                await call(headers)

        dpop.append(await _timed(dpop_batch, requests))
    return bearer, dpop


def main() -> None:
    args = instructions.in_process_arguments(__doc__, "requests per side and round")
    with instructions.seeded_workdir("pixie-dpop-bench-") as workdir:
        print("token endpoint: refresh grants ...", file=sys.stderr)
        token = asyncio.run(token_endpoint(args.rounds, args.requests, workdir))
        print("resource server: protected requests ...", file=sys.stderr)
        resource = asyncio.run(resource_server(args.rounds, args.requests))
    lines = ["| where | Bearer µs CPU/op | DPoP µs CPU/op | DPoP/Bearer | target |", "|---|---:|---:|---:|---:|"]
    for name, (bearer, dpop), target in (
        ("token endpoint (refresh grant, SQLite)", token, "≤ 1.3"),
        ("resource server (middleware, ES256)", resource, "≤ 2.0"),
    ):
        b, d = statistics.median(bearer), statistics.median(dpop)
        lines.append(f"| {name} | {b:,.0f} | {d:,.0f} | {d / b:.2f} | {target} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        compare.record(
            "DPoP against Bearer (bench/dpop.py)",
            f"Median of {args.rounds} interleaved rounds of {args.requests} requests per side, in process, one core.",
            table,
        )


if __name__ == "__main__":
    main()
