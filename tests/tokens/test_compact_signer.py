"""The lean signer against joserfc: every token it makes must verify with joserfc itself and on Pixie's verification
path (:func:`pixie.resource.jws.verify_jwt`), with header and claims intact, for each algorithm; a tampered token
must not (RFC 7515 §5.1–§5.2)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from pixie.resource import jws
from pixie.tokens import signing

KEYS = {alg: signing.generate_private_key(alg) for alg in signing.ALGORITHMS}
claim_values = st.one_of(
    st.text(max_size=40), st.integers(-(2**53), 2**53), st.booleans(), st.lists(st.text(max_size=10), max_size=3)
)


def _jwks(alg: str) -> dict[str, object]:
    return {"keys": [signing.public_jwk(KEYS[alg], kid="k1", alg=alg)]}


@pytest.mark.parametrize("alg", signing.ALGORITHMS)
@settings(max_examples=25, deadline=None)
@given(claims=st.dictionaries(st.text(min_size=1, max_size=12), claim_values, max_size=6))
def test_joserfc_verifies_what_the_lean_signer_signs(alg: str, claims: dict[str, object]) -> None:
    token = signing.CompactSigner(KEYS[alg], {"alg": alg, "kid": "k1", "typ": "at+jwt"}).sign(claims)
    decoded = jwt.decode(token, KeySet.import_key_set(_jwks(alg)), algorithms=[alg])  # type: ignore[arg-type]
    assert decoded.claims == claims
    assert decoded.header == {"alg": alg, "kid": "k1", "typ": "at+jwt"}
    verified = jws.verify_jwt(token, _jwks(alg), [alg])
    assert verified.claims == claims
    assert verified.header == {"alg": alg, "kid": "k1", "typ": "at+jwt"}


@pytest.mark.parametrize("alg", signing.ALGORITHMS)
def test_a_changed_payload_fails_verification(alg: str) -> None:
    token = signing.CompactSigner(KEYS[alg], {"alg": alg, "kid": "k1", "typ": "at+jwt"}).sign({"sub": "alice"})
    header, _, signature = token.split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"sub": "mallory"}).encode()).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        jwt.decode(f"{header}.{forged}.{signature}", KeySet.import_key_set(_jwks(alg)), algorithms=[alg])  # type: ignore[arg-type]
    with pytest.raises(jws.JWSError, match="bad signature"):
        jws.verify_jwt(f"{header}.{forged}.{signature}", _jwks(alg), [alg])


def test_the_eddsa_alias_signs_as_ed25519_and_a_mismatched_key_is_refused() -> None:
    token = signing.CompactSigner(KEYS["Ed25519"], {"alg": "EdDSA", "kid": "k1", "typ": "JWT"}).sign({})
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["alg"] == "Ed25519"
    with pytest.raises(signing.JoseFailure):
        signing.CompactSigner(KEYS["RS256"], {"alg": "ES256", "kid": "k1", "typ": "JWT"})
