"""Helpers of the resource-server suite: hand-made tokens and a tiny real issuer (JWKS + metadata) on loopback
whose behaviour tests change at will (rotate keys, fail, answer slowly, lie about its issuer), and which counts
how often it is asked.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from livesupport import free_port, serve_in_thread

AUDIENCE = "https://api.example"
ALL_SCOPES = ("properties:read", "properties:write", "tenants:read")
SECRETS = {
    "writer": "writer-secret-0123456789-abcdefghijklmnop",
    "reader": "reader-secret-0123456789-abcdefghijklmnop",
    "elsewhere": "elsewhere-secret-0123456789-abcdefghijkl",
    # The resource server itself, for introspection: its client id is the audience its tokens carry (RFC 7662 §4).
    AUDIENCE: "rs-secret-0123456789-abcdefghijklmnopqrstu",
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: object) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Header and claims (unverified) and the signature segment of a compact JWS."""
    header, payload, signature = token.split(".")
    decode = lambda s: json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))  # noqa: E731
    return decode(header), decode(payload), signature


def hmac_token(header: Mapping[str, Any], claims: Mapping[str, Any], secret: bytes) -> str:
    """An HS256 token: the key-confusion attack signs with the issuer's *public* key as the HMAC secret."""
    signing_input = f"{b64json(dict(header))}.{b64json(dict(claims))}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[str(header["alg"])]
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), digest).digest())}"


def es256_token(header: Mapping[str, Any], claims: Mapping[str, Any], key: ECKey) -> str:
    """An ES256 compact JWS signed with ``cryptography`` directly, whatever the header says (no library policy)."""
    signing_input = f"{b64json(dict(header))}.{b64json(dict(claims))}"
    der = key.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def claims_for(issuer: str, **override: Any) -> dict[str, Any]:
    """RFC 9068 §2.2 claims for a token valid now (``None`` in ``override`` removes a claim)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": "user-1",
        "aud": AUDIENCE,
        "client_id": "spa",
        "scope": "properties:read",
        "iat": now,
        "exp": now + 300,
        "jti": b64(hashlib.sha256(str(time.perf_counter_ns()).encode()).digest()[:12]),
    }
    claims.update(override)
    return {k: v for k, v in claims.items() if v is not None}


@dataclass
class TinyIssuer:
    """A real HTTP issuer on loopback that publishes ``keys`` (private keys kept here, to sign test tokens)."""

    base: str = ""
    keys: dict[str, ECKey] = field(default_factory=dict)
    published: list[dict[str, Any]] | None = None
    """Exactly the JWK set to serve (None: the public halves of ``keys``)."""
    status: int = 200
    delay: float = 0.0
    metadata_issuer: str | None = None
    hits: Counter[str] = field(default_factory=Counter)

    def reset(self) -> None:
        self.keys, self.published, self.status, self.delay, self.metadata_issuer = {}, None, 200, 0.0, None
        self.hits.clear()

    def add_key(self, kid: str) -> ECKey:
        key = ECKey.generate_key("P-256")
        self.keys[kid] = key
        return key

    def sign(self, claims: Mapping[str, Any], kid: str, *, key: ECKey | None = None, **header: Any) -> str:
        """An ES256 token under ``kid`` (signed by ``key`` if given: a key this issuer does not publish)."""
        head = {"alg": "ES256", "typ": "at+jwt", "kid": kid, **header}
        head = {k: v for k, v in head.items() if v is not None}
        return es256_token(head, claims, key or self.keys[kid])

    def claims(self, **override: Any) -> dict[str, Any]:
        return claims_for(self.base, **override)

    def jwks(self) -> dict[str, Any]:
        if self.published is not None:
            return {"keys": self.published}
        return {
            "keys": [
                {**key.as_dict(private=False), "kid": kid, "alg": "ES256", "use": "sig"}
                for kid, key in self.keys.items()
            ]
        }

    def app(self) -> Starlette:
        async def metadata(request: Request) -> Response:
            self.hits["metadata"] += 1
            path = request.url.path.removeprefix("/.well-known/oauth-authorization-server")
            issuer = self.metadata_issuer or self.base + path
            return JSONResponse({"issuer": issuer, "jwks_uri": f"{self.base}/jwks.json"})

        async def jwks(request: Request) -> Response:
            self.hits["jwks"] += 1
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.status != 200:
                return JSONResponse({"error": "down"}, status_code=self.status)
            return JSONResponse(self.jwks())

        return Starlette(
            routes=[
                Route("/.well-known/oauth-authorization-server", metadata),
                Route("/.well-known/oauth-authorization-server/{path:path}", metadata),
                Route("/jwks.json", jwks),
            ]
        )


@contextmanager
def running(issuer: TinyIssuer) -> Iterator[TinyIssuer]:
    port = free_port()
    issuer.base = f"http://127.0.0.1:{port}"
    with serve_in_thread(issuer.app(), port):
        yield issuer


class Clock:
    """A monotonic clock that tests move by hand (the cache's intervals without waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
