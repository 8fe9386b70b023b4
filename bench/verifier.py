"""How fast pixie.resource checks tokens: verifications per second on one core, and the middleware's cost per request.

Run (about 20 s):  .venv/bin/python bench/verifier.py [--rounds N]

* ``JWTVerifier.verify`` on an RFC 9068-shaped ES256 token with a warm JWKS cache (the real :class:`JWKSCache`,
  filled once from an in-process JWKS app), against two references measured in the same run: the floor, one raw
  ``cryptography`` ECDSA P-256 verify of the same signing input; and joserfc alone, ``jwt.decode`` with the public
  key imported and the registry built once — what any verifier on joserfc pays before its own checks. The verifier
  parses and verifies through joserfc too, so "ours minus joserfc" is the price of Pixie's policy checks, key
  look-up and RFC 9068 claim rules.
* Per-request time through an inline Starlette app called in-process over ASGI: the route without the middleware,
  a public path behind it, and a protected route (token verified). The middleware's own overhead is the protected
  time minus the bare route minus one verification.

The process pins itself to one CPU (os.sched_setaffinity), so the figures are per core. Each figure is the fastest
of many short batches (a batch is 50 calls), taken over several interleaved rounds: on a shared machine a
neighbour's burst of CPU use then lengthens some batches but not the fastest one, and does not land on one side of a
comparison only. The ratios are steadier than the absolute numbers; compare runs by them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from pixie.resource import BearerAuthMiddleware, JWKSCache, JWTVerifier

ISSUER, AUDIENCE = "https://as.example", "https://api.example"


def claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "client_id": "spa",
        "scope": "properties:read properties:write",
        "iat": now,
        "exp": now + 3600,
        "jti": "k9vYb1dVhV0tEnyG3nPZ2w",
    }


BATCH = 50


def public_key_verify(public: Any, der: bytes, data: bytes, ecdsa: ec.ECDSA) -> None:
    public.verify(der, data, ecdsa)


def rate(func: Callable[[], object], seconds: float) -> float:
    """Calls per second in the fastest batch of ``BATCH`` calls run within ``seconds``."""
    fastest, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < seconds:
        began = time.perf_counter()
        for _ in range(BATCH):
            func()
        fastest = min(fastest, time.perf_counter() - began)
    return BATCH / fastest


async def arate(func: Callable[[], Awaitable[object]], seconds: float) -> float:
    """:func:`rate` for a coroutine function, awaited in the running loop."""
    fastest, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < seconds:
        began = time.perf_counter()
        for _ in range(BATCH):
            await func()
        fastest = min(fastest, time.perf_counter() - began)
    return BATCH / fastest


def asgi_call(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> Callable[[], Awaitable[None]]:
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 5000),
    }
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    async def call() -> None:
        await app(dict(scope_base), receive, send)
        if status.pop() != 200:
            raise RuntimeError(f"{path} did not answer 200")

    return call


async def main(rounds: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    key = ECKey.generate_key("P-256")
    kid = key.thumbprint()
    token = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": kid}, claims(), key)
    jwks = {"keys": [{**key.as_dict(private=False), "kid": kid, "alg": "ES256", "use": "sig"}]}

    async def jwks_endpoint(request: Request) -> Response:
        return JSONResponse(jwks)

    issuer_app = Starlette(routes=[Route("/jwks.json", jwks_endpoint)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(issuer_app)) as http:
        cache = JWKSCache("http://issuer.test/jwks.json", http=http)
        verifier = JWTVerifier(ISSUER, AUDIENCE, jwks=cache)
        await verifier.verify(token)  # warm the cache: every later look-up is in memory
        assert cache.fetches == 1

        header, payload, _ = token.split(".")
        signing_input = f"{header}.{payload}".encode()
        der = key.private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        public_jwk = ECKey.import_key(jwks["keys"][0])
        verify_key, ecdsa = public_jwk.public_key, ec.ECDSA(hashes.SHA256())
        registry = JWSRegistry(algorithms=["ES256"])

        async def hello(request: Request) -> Response:
            return PlainTextResponse("hi")

        routes = [Route("/open/hello", hello), Route("/api/hello", hello)]
        bare = asgi_call(Starlette(routes=routes), "/api/hello", [(b"host", b"api.test")])
        protected_app = BearerAuthMiddleware(Starlette(routes=routes), verifier, public_paths=["/open"])
        public = asgi_call(protected_app, "/open/hello", [(b"host", b"api.test")])
        auth = [(b"authorization", f"Bearer {token}".encode()), (b"host", b"api.test")]
        protected = asgi_call(protected_app, "/api/hello", auth)

        best: dict[str, float] = {}
        for _ in range(rounds):
            for name, value in (
                ("floor", rate(lambda: public_key_verify(verify_key, der, signing_input, ecdsa), 0.4)),
                ("ours", await arate(lambda: verifier.verify(token), 0.4)),
                ("joserfc", rate(lambda: jwt.decode(token, public_jwk, registry=registry), 0.4)),
                ("bare", await arate(bare, 0.2)),
                ("public", await arate(public, 0.2)),
                ("protected", await arate(protected, 0.4)),
            ):
                best[name] = max(best.get(name, 0.0), value)
        assert cache.fetches == 1  # every look-up after the first came from memory
        floor, ours, joserfc = best["floor"], best["ours"], best["joserfc"]
        bare_us, public_us, protected_us = (1e6 / best[n] for n in ("bare", "public", "protected"))

    verify_us = 1e6 / ours
    print(f"ES256 access token, one core, warm JWKS cache, best of {rounds} rounds")
    print(f"  cryptography ECDSA P-256 verify (floor)  {floor:9,.0f}/s")
    print(f"  joserfc jwt.decode, key + registry once  {joserfc:9,.0f}/s   ({joserfc / floor:.0%} of the floor)")
    print(
        f"  pixie.resource JWTVerifier.verify        {ours:9,.0f}/s   ({ours / floor:.0%} of the floor,"
        f" {ours / joserfc:.0%} of joserfc alone, {1e6 / ours - 1e6 / joserfc:+.1f} µs)"
    )
    print("Per request, in-process ASGI, inline Starlette app")
    print(f"  route without middleware                 {bare_us:7.1f} µs")
    print(f"  public path behind the middleware        {public_us:7.1f} µs   (+{public_us - bare_us:.1f} µs)")
    print(f"  protected route, token verified          {protected_us:7.1f} µs   (+{protected_us - bare_us:.1f} µs)")
    print(f"  of which one verification                {verify_us:7.1f} µs")
    print(f"  middleware overhead beyond verification  {protected_us - bare_us - verify_us:7.1f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds; each figure is the best (8)")
    asyncio.run(main(parser.parse_args().rounds))
