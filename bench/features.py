"""What the newer features cost the server per code exchange: an ID token (OpenID Connect) and a protected
resource (RFC 8707), each against the plain exchange, in one run.

Run on purpose, never from ``make test`` (about a minute)::

    .venv/bin/python bench/features.py [--rounds 7] [--requests 640]

The authorization-code exchange (``POST /token``) runs through Pixie's app in process over ASGI, on the SQLite
database ``compare.py`` seeds, 32 exchanges at a time, in three variants:

* **plain** — a code for ``api:read``: the access token, the code's redemption and the refresh family.
* **openid** — the same code with ``openid`` as well: the exchange also signs an ID token (with ``at_hash``).
* **resource** — the plain code granted for a registered protected resource (``https://api.example``): the exchange
  also looks the resource up and addresses the access token to it (``aud``).

Codes are sealed before each timed batch with the server's own key (``pixie.tokens.codes``), as ``/authorize`` would
issue them; sealing is ``/authorize``'s cost, not the exchange's. Each variant's figure is process CPU time
(``time.process_time``) over a batch divided by its exchanges; the variants alternate over ``--rounds`` rounds and
the median of each is reported with its ratio to plain.
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import compare
import instructions

from pixie.config import Settings
from pixie.pkce import create_challenge, generate_verifier
from pixie.protected_resources import create_resource
from pixie.server.app import open_backend
from pixie.storage.records import AuthorizationCode
from pixie.tenancy import DEFAULT_TENANT
from pixie.tokens.codes import CodeSealer

ISSUER = "http://127.0.0.1:9000"
API = "https://api.example"
REDIRECT = compare.REDIRECT
CHAINS = instructions.CONCURRENCY
VARIANTS = {
    "plain": (("api:read",), ()),
    "openid": (("openid", "api:read"), ()),
    "resource": (("api:read",), (API,)),
}


async def _prepare(workdir: Path) -> tuple[str, bytes]:
    """Register the protected resource; the bench user's id and the master key the server seals codes with."""
    env = compare._pixie_env(workdir, f"sqlite:///{workdir / 'bench.db'}")
    settings = Settings.from_env(env, issuer=ISSUER, insecure_allow_http=True)
    async with open_backend(settings) as (storage, _):
        await create_resource(storage, DEFAULT_TENANT, API, scopes=("api:read",))
        user = await storage.users.get_by_username(DEFAULT_TENANT, "bench-user")
        assert user is not None, "compare._seed creates bench-user"
    return user.user_id, settings.master_key


def _codes(sealer: CodeSealer, user_id: str, variant: str, count: int) -> list[tuple[str, str]]:
    """``count`` fresh codes of one variant, sealed as ``/authorize`` issues them, with their PKCE verifiers."""
    scopes, resources = VARIANTS[variant]
    now, codes = time.time(), []
    for _ in range(count):
        verifier = generate_verifier()
        record = AuthorizationCode(
            tenant_id=DEFAULT_TENANT,
            code_hash="",
            client_id="bench-public",
            user_id=user_id,
            redirect_uri=REDIRECT,
            redirect_uri_provided=True,
            scopes=scopes,
            code_challenge=create_challenge(verifier),
            code_challenge_method="S256",
            auth_time=now,
            correlation_id="bench",
            created_at=now,
            expires_at=now + 60,
            nonce="n-0S6_WzA2Mj" if "openid" in scopes else None,
            resources=resources,
        )
        codes.append((sealer.seal(record), verifier))
    return codes


async def exchanges(rounds: int, requests: int, workdir: Path) -> dict[str, list[float]]:
    user_id, master_key = await _prepare(workdir)
    sealer = CodeSealer(master_key)
    app = instructions._app(True, workdir, ISSUER)
    stop = await instructions._lifespan(app)
    per_chain = requests // CHAINS

    answers: dict[str, dict[str, object]] = {}

    async def batch(codes: list[tuple[str, str]], variant: str) -> float:
        async def chain(index: int) -> None:
            for code, verifier in codes[index * per_chain : (index + 1) * per_chain]:
                form = {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT,
                    "client_id": "bench-public",
                    "code_verifier": verifier,
                }
                answers[variant] = await instructions._post(app, [], urlencode(form).encode())

        start = time.process_time()
        await asyncio.gather(*(chain(index) for index in range(CHAINS)))
        return (time.process_time() - start) / (per_chain * CHAINS) * 1e6

    results: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    try:
        for variant in VARIANTS:  # warm-up: caches, first statements, the resource lookup
            await batch(_codes(sealer, user_id, variant, CHAINS), variant)
        # Each variant does what it is meant to price: an ID token, an access token addressed to the resource.
        if ("id_token" in answers["openid"], "id_token" in answers["plain"]) != (True, False):
            raise SystemExit("the openid exchange should return an ID token, the plain one none")
        payload = str(answers["resource"]["access_token"]).split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if claims.get("aud") != API:
            raise SystemExit(f"the resource exchange's access token is for {claims.get('aud')!r}, not {API}")
        for round_index in range(rounds):
            order = list(VARIANTS) if round_index % 2 == 0 else list(reversed(VARIANTS))
            for variant in order:
                codes = _codes(sealer, user_id, variant, per_chain * CHAINS)
                results[variant].append(await batch(codes, variant))
    finally:
        await stop()
    return results


def main() -> None:
    args = instructions.in_process_arguments(__doc__, "exchanges per variant and round")
    with instructions.seeded_workdir("pixie-features-bench-") as workdir:
        print("code exchanges: plain, openid, resource ...", file=sys.stderr)
        results = asyncio.run(exchanges(args.rounds, args.requests, workdir))
    plain = statistics.median(results["plain"])
    lines = ["| code exchange | µs CPU/op (median) | against plain | per round |", "|---|---:|---:|---|"]
    for variant, figures in results.items():
        median = statistics.median(figures)
        each = ", ".join(f"{figure:,.0f}" for figure in figures)
        lines.append(f"| {variant} | {median:,.0f} | {median / plain:.2f} | {each} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        compare.record(
            "Features priced per code exchange (bench/features.py)",
            f"Median of {args.rounds} interleaved rounds of {args.requests} exchanges per variant, in process, one "
            "core, SQLite.",
            table,
        )


if __name__ == "__main__":
    main()
