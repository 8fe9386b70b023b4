"""JWKS cache behaviour against a tiny real issuer on loopback that counts its hits.

Spec: RFC 7517 §5, RFC 8414 §3.1, §3.3; RFC 8725 §3.10 (key look-up must not be steerable into a fetch storm).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from joserfc.jwk import ECKey
from resource_support import AUDIENCE, Clock, TinyIssuer, running

from pixie.errors import InvalidToken, TemporarilyUnavailable
from pixie.resource import JWKSCache, JWTVerifier


def verifier_for(tiny: TinyIssuer, cache: JWKSCache) -> JWTVerifier:
    return JWTVerifier(tiny.base, AUDIENCE, jwks=cache)


def cache_for(tiny: TinyIssuer, http: httpx.AsyncClient, clock: Clock, **kwargs: float) -> JWKSCache:
    return JWKSCache(f"{tiny.base}/jwks.json", http=http, clock=clock, **kwargs)


async def test_fetched_once(tiny: TinyIssuer, http: httpx.AsyncClient) -> None:
    """Discovery once, the JWK set once, then every verification is served from memory."""
    tiny.add_key("k1")
    verifier = verifier_for(tiny, JWKSCache.discover(tiny.base, http=http))
    for _ in range(25):
        await verifier.verify(tiny.sign(tiny.claims(), "k1"))
    assert tiny.hits == {"metadata": 1, "jwks": 1}


async def test_concurrent_first_use_shares_one_fetch(tiny: TinyIssuer, http: httpx.AsyncClient) -> None:
    """Single-flight: 30 requests arriving together while the issuer answers slowly cause one fetch."""
    tiny.add_key("k1")
    tiny.delay = 0.3
    verifier = verifier_for(tiny, cache_for(tiny, http, Clock()))
    tokens = [tiny.sign(tiny.claims(sub=f"u{i}"), "k1") for i in range(30)]
    results = await asyncio.gather(*(verifier.verify(t) for t in tokens))
    assert [r.subject for r in results] == [f"u{i}" for i in range(30)]
    assert tiny.hits["jwks"] == 1


async def test_unknown_kid_refresh_is_rate_limited(tiny: TinyIssuer, http: httpx.AsyncClient) -> None:
    """A flood of tokens under made-up ``kid`` values costs the issuer one request per interval, not one per token;
    concurrent misses share it."""
    tiny.add_key("k1")
    clock = Clock()
    cache = cache_for(tiny, http, clock, min_refresh_interval=30)
    verifier = verifier_for(tiny, cache)
    await verifier.verify(tiny.sign(tiny.claims(), "k1"))
    stranger = ECKey.generate_key("P-256")

    async def attempt(kid: str) -> str:
        try:
            await verifier.verify(tiny.sign(tiny.claims(), kid, key=stranger))
        except InvalidToken as exc:
            return exc.description
        return "accepted"

    clock.advance(31)
    tiny.delay = 0.2  # keep the first refresh in flight while the others arrive
    outcomes = await asyncio.gather(*(attempt(f"made-up-{i}") for i in range(40)))
    assert set(outcomes) == {"the token was signed with an unknown key"}
    assert tiny.hits["jwks"] == 2  # the first load and one shared refresh
    tiny.delay = 0
    for i in range(40):
        assert await attempt(f"again-{i}") != "accepted"
    assert tiny.hits["jwks"] == 2  # inside the interval: no fetch at all
    clock.advance(30)
    await attempt("after-the-interval")
    assert tiny.hits["jwks"] == 3


async def test_rotation_is_picked_up_on_the_first_unknown_kid(tiny: TinyIssuer, http: httpx.AsyncClient) -> None:
    """RFC 7517 §5: when the issuer starts signing with a new published key, the first such token refreshes."""
    tiny.add_key("k1")
    clock = Clock()
    verifier = verifier_for(tiny, cache_for(tiny, http, clock))
    await verifier.verify(tiny.sign(tiny.claims(), "k1"))
    clock.advance(30)
    tiny.add_key("k2")
    assert (await verifier.verify(tiny.sign(tiny.claims(sub="rotated"), "k2"))).subject == "rotated"
    assert tiny.hits["jwks"] == 2


async def test_stale_keys_serve_while_the_issuer_is_down(http: httpx.AsyncClient) -> None:
    """Stale-while-revalidate: past ``max_age`` the old keys keep answering while refreshes fail (the issuer is
    really gone from loopback); past ``max_stale`` the verifier says 503, not "invalid token"."""
    clock = Clock()
    with running(TinyIssuer()) as issuer:
        issuer.add_key("k1")
        cache = cache_for(issuer, http, clock, max_age=60, max_stale=600)
        verifier = verifier_for(issuer, cache)
        token = issuer.sign(issuer.claims(), "k1")
        await verifier.verify(token)
    clock.advance(120)  # stale, and the issuer is down
    assert (await verifier.verify(token)).subject == "user-1"
    await asyncio.sleep(0.2)  # let the background revalidation fail
    assert cache.fetches == 2
    assert (await verifier.verify(token)).subject == "user-1"
    assert cache.fetches == 2  # failed refreshes are rate-limited too
    clock.advance(600)
    with pytest.raises(TemporarilyUnavailable):
        await verifier.verify(token)


async def test_first_load_failure_is_503_and_retried_slowly(tiny: TinyIssuer, http: httpx.AsyncClient) -> None:
    """No keys yet and the issuer failing: 503 (the token may be fine); retried at most every 5 s."""
    tiny.add_key("k1")
    tiny.status = 503
    clock = Clock()
    verifier = verifier_for(tiny, cache_for(tiny, http, clock))
    token = tiny.sign(tiny.claims(), "k1")
    for _ in range(10):
        with pytest.raises(TemporarilyUnavailable):
            await verifier.verify(token)
    assert tiny.hits["jwks"] == 1
    tiny.status = 200
    clock.advance(5)
    assert (await verifier.verify(token)).subject == "user-1"
    assert tiny.hits["jwks"] == 2


async def test_discovery_insists_on_the_exact_issuer(tiny: TinyIssuer, http: httpx.AsyncClient) -> None:
    """RFC 8414 §3.3: metadata naming another issuer is not used (no JWKS fetched from it)."""
    tiny.add_key("k1")
    tiny.metadata_issuer = "https://evil.example"
    verifier = verifier_for(tiny, JWKSCache.discover(tiny.base, http=http))
    with pytest.raises(TemporarilyUnavailable):
        await verifier.verify(tiny.sign(tiny.claims(), "k1"))
    assert tiny.hits == {"metadata": 1}


async def test_discovery_inserts_well_known_before_the_path(tiny: TinyIssuer, http: httpx.AsyncClient) -> None:
    """RFC 8414 §3.1: issuer ``{base}/t/acme`` has its metadata at ``/.well-known/oauth-authorization-server/t/acme``
    (the tiny issuer answers with the issuer that path implies)."""
    tiny.add_key("k1")
    issuer = f"{tiny.base}/t/acme"
    verifier = JWTVerifier(issuer, AUDIENCE, jwks=JWKSCache.discover(issuer, http=http))
    token = tiny.sign(tiny.claims(iss=issuer), "k1")
    assert (await verifier.verify(token)).issuer == issuer


async def test_unusable_keys_are_skipped(tiny: TinyIssuer, http: httpx.AsyncClient) -> None:
    """RFC 7517 §5: keys that cannot be used (symmetric, unknown type, wrong ``use``, broken) are ignored, the
    usable one still works; a key published for encryption cannot verify."""
    good = tiny.add_key("good")
    enc = ECKey.generate_key("P-256")
    tiny.published = [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {"kty": "XYZ", "kid": "future"},
        {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "broken"},
        {**enc.as_dict(private=False), "kid": "enc", "use": "enc"},
        {**good.as_dict(private=False), "kid": "good"},
        "not a key",
    ]
    verifier = verifier_for(tiny, cache_for(tiny, http, Clock()))
    assert (await verifier.verify(tiny.sign(tiny.claims(), "good"))).subject == "user-1"
    tiny.keys["enc"] = enc
    with pytest.raises(InvalidToken):
        await verifier.verify(tiny.sign(tiny.claims(), "enc"))
