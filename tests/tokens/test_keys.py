"""The signing-key ring on real storage: states, rotation, encryption at rest, JWKS (RFC 7517, RFC 7638)."""

from __future__ import annotations

import pytest

from pixie.resource import jws
from pixie.security import DecryptionFailed
from pixie.storage.interfaces import Storage
from pixie.tokens import signing
from pixie.tokens.keys import KeyRing
from pixie.types import KeyState

MASTER = b"m" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_ensure_creates_active_and_next_once(storage: Storage) -> None:
    ring = KeyRing(storage.keys, MASTER)
    assert await ring.ensure("t-keys-a")
    assert not await ring.ensure("t-keys-a")
    states = sorted(k.state for k in await ring.list("t-keys-a"))
    assert states == [KeyState.ACTIVE, KeyState.NEXT]


async def test_signer_output_verifies_against_published_jwks(storage: Storage) -> None:
    ring = KeyRing(storage.keys, MASTER)
    await ring.ensure("t-keys-b")
    signer = await ring.signer("t-keys-b")
    token = signer.sign({"sub": "u1"}, typ="at+jwt")
    verified = jws.verify_jwt(token, await ring.jwks("t-keys-b"))
    assert verified.claims == {"sub": "u1"}
    assert verified.header["kid"] == signer.kid and verified.header["typ"] == "at+jwt"
    other = KeyRing(storage.keys, MASTER)
    await other.ensure("t-keys-other")
    with pytest.raises(jws.JWSError):
        jws.verify_jwt(token, await other.jwks("t-keys-other"))


async def test_a_key_line_made_elsewhere_is_published_before_this_ring_signs_with_it(storage: Storage) -> None:
    """The CLI (another process, another ring) gives the tenant an RS256 line while the server's JWK set is cached:
    the server's first RS256 signature comes with a JWK set that holds its key, not the 30-second-old one."""
    server, cli = KeyRing(storage.keys, MASTER), KeyRing(storage.keys, MASTER)
    await server.ensure("t-keys-line")
    published = await server.jwks("t-keys-line")
    await cli.ensure("t-keys-line", "RS256")
    assert await server.jwks("t-keys-line") is published  # still the cached set
    signer = await server.signer_for("t-keys-line", "RS256")
    token = signer.sign({"sub": "u1"}, typ="JWT")
    assert jws.verify_jwt(token, await server.jwks("t-keys-line")).claims == {"sub": "u1"}


async def test_rotation_walks_next_active_retiring_retired(storage: Storage) -> None:
    clock = Clock()
    ring = KeyRing(storage.keys, MASTER, clock=clock, cache_ttl=0)
    tenant = "t-keys-c"
    await ring.ensure(tenant)
    first = (await ring.signer(tenant)).kid
    next_kid = next(k.kid for k in await ring.list(tenant) if k.state is KeyState.NEXT)

    clock.now += 10
    report = await ring.rotate(tenant, retire_after=100)
    assert report.activated == next_kid and report.demoted == first
    assert (await ring.signer(tenant)).kid == next_kid
    published = {k["kid"] for k in (await ring.jwks(tenant))["keys"]}
    assert published == {first, next_kid, report.new_next}

    clock.now += 101
    report2 = await ring.rotate(tenant, retire_after=100)
    assert report2.retired == (first,)
    states = {k.kid: k.state for k in await ring.list(tenant)}
    assert states[first] is KeyState.RETIRED
    assert first not in {k["kid"] for k in (await ring.jwks(tenant))["keys"]}


async def test_private_keys_are_encrypted_at_rest(storage: Storage) -> None:
    """ARCHITECTURE §6.6: signing keys encrypted at rest; a wrong master key cannot use them."""
    ring = KeyRing(storage.keys, MASTER)
    await ring.ensure("t-keys-d")
    record = next(k for k in await ring.list("t-keys-d") if k.state is KeyState.ACTIVE)
    assert b"PRIVATE KEY" not in record.private_key_encrypted
    assert "d" not in record.public_jwk
    with pytest.raises(DecryptionFailed):
        await KeyRing(storage.keys, b"x" * 32).signer("t-keys-d")


@pytest.mark.parametrize("alg", ["RS256", "Ed25519", "EdDSA"])
async def test_other_algorithms(storage: Storage, alg: str) -> None:
    ring = KeyRing(storage.keys, MASTER)
    tenant = f"t-keys-{alg.lower()}"
    await ring.ensure(tenant, alg)
    signer = await ring.signer(tenant)
    assert signer.alg == signing.canonical_alg(alg)
    token = signer.sign({"sub": "x"}, typ="at+jwt")
    assert jws.verify_jwt(token, await ring.jwks(tenant)).claims["sub"] == "x"


def test_unknown_algorithms_refused() -> None:
    for alg in ("none", "HS256", "ES512"):
        with pytest.raises(signing.JoseFailure):
            signing.canonical_alg(alg)
