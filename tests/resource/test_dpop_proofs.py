"""DPoP proofs (RFC 9449 §4.2–4.3): :class:`ProofChecker` against proofs built here independently of Pixie's
signer (``cryptography`` and hand-written JWS encoding), and against :class:`pixie.client.dpop.DPoPKey`'s proofs.

Each refusal names its check; every accepted proof yields the key's RFC 7638 thumbprint and a replay key.

Spec: RFC 9449 §4.2, §4.3 steps 2–12, §6.1, §8; RFC 7638 §3 (thumbprint, with its own test vector).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from pixie.client.dpop import DPoPKey
from pixie.errors import InvalidDPoPProof, UseDPoPNonce
from pixie.resource.dpop import ProofChecker, access_token_hash, jwk_thumbprint, normalize_htu

URL = "https://as.example/token"
NOW = 1_800_000_000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: object) -> str:
    return b64(json.dumps(value).encode())


def _int(n: int, size: int) -> str:
    return b64(n.to_bytes(size, "big"))


class EcSigner:
    """An ES256 key with its public JWK, signing with ``cryptography`` directly."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        numbers = self.private.public_key().public_numbers()
        self.jwk: dict[str, Any] = {"kty": "EC", "crv": "P-256", "x": _int(numbers.x, 32), "y": _int(numbers.y, 32)}
        self.alg = "ES256"

    def sign(self, signing_input: bytes) -> bytes:
        r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class RsaSigner:
    def __init__(self, alg: str = "PS256") -> None:
        self.private = rsa.generate_private_key(65537, 2048)
        numbers = self.private.public_key().public_numbers()
        self.jwk = {"kty": "RSA", "n": _int(numbers.n, 256), "e": _int(numbers.e, 3)}
        self.alg = alg

    def sign(self, signing_input: bytes) -> bytes:
        if self.alg == "PS256":
            pad: padding.AsymmetricPadding = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
        else:
            pad = padding.PKCS1v15()
        return self.private.sign(signing_input, pad, hashes.SHA256())


class EdSigner:
    def __init__(self) -> None:
        self.private = ed25519.Ed25519PrivateKey.generate()
        from cryptography.hazmat.primitives import serialization

        raw = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
        self.alg = "EdDSA"

    def sign(self, signing_input: bytes) -> bytes:
        return self.private.sign(signing_input)


SIGNER = EcSigner()


def proof(
    signer: Any = SIGNER,
    *,
    header: dict[str, Any] | None = None,
    claims: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
) -> str:
    head: dict[str, Any] = {"typ": "dpop+jwt", "alg": signer.alg, "jwk": signer.jwk, **(header or {})}
    body: dict[str, Any] = {"jti": "j-" + str(time.monotonic_ns()), "htm": "POST", "htu": URL, "iat": NOW}
    body.update(claims or {})
    for name in drop:
        head.pop(name, None)
        body.pop(name, None)
    signing_input = f"{b64json(head)}.{b64json(body)}".encode()
    return f"{signing_input.decode()}.{b64(signer.sign(signing_input))}"


def checker(**kwargs: Any) -> ProofChecker:
    return ProofChecker(clock=lambda: NOW, **kwargs)


@pytest.mark.parametrize(
    "signer", [SIGNER, RsaSigner("PS256"), RsaSigner("RS256"), EdSigner()], ids=["ES256", "PS256", "RS256", "EdDSA"]
)
def test_a_proof_from_each_allowed_algorithm_is_accepted(signer: Any) -> None:
    checked = checker().check(proof(signer), method="POST", url=URL)
    assert checked.jkt == jwk_thumbprint(signer.jwk)
    assert checked.issued_at == NOW and checked.expires_at == NOW + 60
    assert len(checked.replay_key) == 64


def test_the_thumbprint_matches_rfc_7638s_own_example() -> None:
    # RFC 7638 §3.1: the RSA key of RFC 7515 Appendix A.1 has this SHA-256 thumbprint.
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjB"
            "ZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8"
            "KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_"
            "xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_client_proofs_pass_the_checker_with_ath_and_nonce() -> None:
    key = DPoPKey.generate()
    assert DPoPKey.from_jwk(key.to_jwk()).thumbprint == key.thumbprint
    checked = ProofChecker().check(
        key.proof("get", "https://API.example:443/things?page=2#x", access_token="tok", nonce="n1"),
        method="GET",
        url="https://api.example/things",
        access_token="tok",
        nonces=["n1"],
    )
    assert checked.jkt == key.thumbprint
    ed = DPoPKey.generate("EdDSA")
    assert ProofChecker().check(ed.proof("POST", URL), method="POST", url=URL).jkt == ed.thumbprint


def test_the_replay_key_differs_per_key_for_the_same_jti() -> None:
    other = EcSigner()
    one = checker().check(proof(claims={"jti": "same"}), method="POST", url=URL)
    two = checker().check(proof(other, claims={"jti": "same"}), method="POST", url=URL)
    assert one.replay_key != two.replay_key
    assert one.replay_key == checker().check(proof(claims={"jti": "same"}), method="POST", url=URL).replay_key


HMAC_HEADER = {"alg": "HS256"}


@pytest.mark.parametrize(
    ("kwargs", "check", "message"),
    [
        ({"header": {"typ": "JWT"}}, {}, "typ must be dpop+jwt"),
        ({"drop": ("typ",)}, {}, "typ must be dpop+jwt"),
        ({"drop": ("jwk",)}, {}, "no jwk object"),
        ({"header": {"jwk": "a string"}}, {}, "no jwk object"),
        ({"header": {"jwk": {**SIGNER.jwk, "d": "AAAA"}}}, {}, "must be a public key"),
        ({"header": {"jwk": {"kty": "oct", "k": "AAAA"}}}, {}, "must be a public key"),
        ({"header": {"jwk": EcSigner().jwk}}, {}, "signature is invalid"),
        ({"header": HMAC_HEADER}, {}, "malformed"),
        ({"header": {"alg": "none"}}, {}, "malformed"),
        ({"drop": ("jti",)}, {}, "jti"),
        ({"claims": {"jti": "x" * 257}}, {}, "jti"),
        ({"claims": {"jti": 7}}, {}, "jti"),
        ({"claims": {"htm": "GET"}}, {}, "htm does not match"),
        ({"claims": {"htm": "post"}}, {}, "htm does not match"),
        ({"claims": {"htu": "https://as.example/other"}}, {}, "htu does not match"),
        ({"claims": {"htu": "https://evil.example/token"}}, {}, "htu does not match"),
        ({"claims": {"htu": "http://as.example/token"}}, {}, "htu does not match"),
        ({"claims": {"htu": "https://as.example:8443/token"}}, {}, "htu does not match"),
        ({"claims": {"htu": "as.example/token"}}, {}, "htu does not match"),
        ({"drop": ("htu",)}, {}, "needs an htu"),
        ({"drop": ("iat",)}, {}, "numeric iat"),
        ({"claims": {"iat": "1800000000"}}, {}, "numeric iat"),
        ({"claims": {"iat": True}}, {}, "numeric iat"),
        ({"claims": {"iat": NOW - 61}}, {}, "expired"),
        ({"claims": {"iat": NOW + 6}}, {}, "in the future"),
        ({}, {"access_token": "tok"}, "ath does not match"),
        ({"claims": {"ath": access_token_hash("other")}}, {"access_token": "tok"}, "ath does not match"),
    ],
)
def test_bad_proofs_are_refused_naming_the_check(kwargs: dict[str, Any], check: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidDPoPProof) as refused:
        checker().check(proof(**kwargs), method="POST", url=URL, **check)
    assert message in refused.value.description
    assert refused.value.error == "invalid_dpop_proof" and refused.value.status == 400


def test_a_missing_or_stale_nonce_asks_for_the_current_one() -> None:
    for claims in ({}, {"nonce": "old"}):
        with pytest.raises(UseDPoPNonce) as asked:
            checker().check(proof(claims=claims), method="POST", url=URL, nonces=["fresh", "previous"])
        rendered = asked.value.render_json()
        assert rendered.headers["DPoP-Nonce"] == "fresh"
        assert json.loads(rendered.body)["error"] == "use_dpop_nonce"
        assert rendered.headers["Cache-Control"] == "no-store"
    for nonce in ("fresh", "previous"):
        assert checker().check(proof(claims={"nonce": nonce}), method="POST", url=URL, nonces=["fresh", "previous"])


def test_a_tampered_payload_fails_the_signature() -> None:
    head, _, signature = proof().split(".")
    forged = b64json({"jti": "forged", "htm": "POST", "htu": URL, "iat": NOW})
    with pytest.raises(InvalidDPoPProof, match="signature"):
        checker().check(f"{head}.{forged}.{signature}", method="POST", url=URL)


def test_the_query_and_fragment_are_ignored_and_urls_normalised() -> None:
    assert normalize_htu("HTTPS://Example.COM:443/a%7eb/%2f?q=1#f") == "https://example.com/a~b/%2F"
    assert normalize_htu("http://example.com") == "http://example.com/"
    assert normalize_htu("http://[::1]:8080/x") == "http://[::1]:8080/x"
    for bad in ("ftp://x/", "/relative", "https://user@host/", "https://host:99999/"):
        with pytest.raises(ValueError):
            normalize_htu(bad)
    checked = checker().check(
        proof(claims={"htu": "HTTPS://AS.example:443/token?x=1"}), method="POST", url="https://as.example/token"
    )
    assert checked.jkt == jwk_thumbprint(SIGNER.jwk)


def test_the_window_and_algorithms_are_configurable_and_guarded() -> None:
    assert checker(window=300).check(proof(claims={"iat": NOW - 200}), method="POST", url=URL)
    with pytest.raises(ValueError):
        ProofChecker(window=0)
    with pytest.raises(ValueError):
        ProofChecker(["HS256"])
    only_ed = checker(algorithms=["EdDSA"])
    with pytest.raises(InvalidDPoPProof):
        only_ed.check(proof(), method="POST", url=URL)
