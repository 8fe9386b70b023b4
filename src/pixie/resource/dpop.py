"""Checking DPoP proofs (RFC 9449): the rules an authorization server and a resource server share.

A DPoP proof is a JWT the client signs with a private key for one HTTP request; its header carries the public key
(``jwk``). :class:`ProofChecker` applies RFC 9449 §4.3's checks to one proof: structure and signature (through
:mod:`pixie.resource.jws`, with the header's key), ``typ``, the algorithm allow-list, the public key, ``htm`` and
``htu`` against this request, ``iat`` inside a short window, ``nonce`` when the server gave one and ``ath`` when an
access token comes with the proof. It returns a :class:`Proof` whose :attr:`Proof.jkt` (the key's RFC 7638
thumbprint) the caller matches against the code, the refresh token or the access token's ``cnf.jkt``.

What a single proof cannot show — that its ``jti`` was not used before — is the caller's: :attr:`Proof.replay_key`
is what a replay cache (shared by every instance, so that a proof replayed to another one fails too) must see only
once until :attr:`Proof.expires_at`.

Failures raise :class:`pixie.errors.InvalidDPoPProof` (or :class:`pixie.errors.UseDPoPNonce` when the server's
nonce is missing or stale), whose description names the check, never the proof's content.

Spec: RFC 9449 §4.2 (the proof), §4.3 (checking it), §6.1 (``jkt``), §8 (nonces), §11.1 (replay).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from pixie.errors import InvalidDPoPProof, UseDPoPNonce
from pixie.resource import jws
from pixie.security import constant_time_equals

__all__ = [
    "DEFAULT_ALGORITHMS",
    "MAX_JTI_LENGTH",
    "Proof",
    "ProofChecker",
    "access_token_hash",
    "jwk_thumbprint",
    "normalize_htu",
]

PROOF_TYPE = "dpop+jwt"
DEFAULT_ALGORITHMS: tuple[str, ...] = ("ES256", "EdDSA", "PS256", "RS256")
"""The proof algorithms accepted unless configured otherwise: asymmetric only (``none`` and HMAC are refused by
:func:`pixie.resource.jws.allowed_algorithms`)."""

MAX_JTI_LENGTH = 256
"""A longer ``jti`` is refused: it is stored (as a hash) for the replay window, and a client needs no more than a
random 128-bit value."""

MAX_HEADER_LENGTH = 2048
"""The proof's header carries the public key: room for an RSA key of 4096 bits, base64url-encoded."""

DEFAULT_WINDOW = 60
"""Seconds for which a proof is accepted after its ``iat`` (and remembered by the replay cache)."""

DEFAULT_FUTURE_SKEW = 5
"""Seconds a proof's ``iat`` may lie in the future, for clocks slightly ahead of ours."""

_KEYS_LIMIT = 4096
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


@dataclass(frozen=True)
class Proof:
    """A DPoP proof that passed every check one proof allows.

    ``jkt`` is the RFC 7638 SHA-256 thumbprint of the proof's public key (base64url); ``replay_key`` identifies the
    proof for the replay cache (a digest of the key's thumbprint and the ``jti``, so that two clients choosing the
    same ``jti`` do not collide); ``expires_at`` is when it stops being acceptable, and so when the cache may forget
    it.
    """

    jkt: str
    jti: str
    issued_at: int
    expires_at: int
    replay_key: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def access_token_hash(access_token: str) -> str:
    """The ``ath`` value for ``access_token``: base64url of SHA-256 over its ASCII bytes.

    Spec: RFC 9449 §4.2 (``ath``).
    """
    return _b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK (joserfc computes it over the required members only).

    Spec: RFC 7638 §3, RFC 9449 §6.1.
    """
    return jws.import_jwk(jwk).key.thumbprint()


def _normalize_percent(component: str, *, safe: str) -> str:
    """RFC 3986 §6.2.2.1–2: percent-encodings in upper case, and unreserved characters never encoded."""
    out: list[str] = []
    index = 0
    while index < len(component):
        char = component[index]
        if char == "%" and index + 2 < len(component) and _is_hex(component[index + 1 : index + 3]):
            decoded = chr(int(component[index + 1 : index + 3], 16))
            out.append(decoded if decoded in _UNRESERVED else "%" + component[index + 1 : index + 3].upper())
            index += 3
            continue
        out.append(quote(char, safe=safe + "%") if ord(char) > 0x7E or char == " " else char)
        index += 1
    return "".join(out)


def _is_hex(text: str) -> bool:
    return len(text) == 2 and all(c in "0123456789abcdefABCDEF" for c in text)


@functools.lru_cache(maxsize=1024)
def normalize_htu(url: str) -> str:
    """``url`` as DPoP compares it: without query and fragment, scheme and host in lower case, the scheme's
    default port left out, an empty path as ``/``, percent-encodings normalised. Raises ``ValueError`` for anything
    but an absolute http(s) URL.

    Spec: RFC 9449 §4.3 step 9 (``htu`` without query and fragment), RFC 3986 §6.2.2–6.2.3 (normalisation).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("not an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("a URL with user information")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port  # raises ValueError for a port that is not a number in range
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _normalize_percent(parts.path or "/", safe="/:@!$&'()*+,;=")
    return urlunsplit((scheme, netloc, path, "", ""))


class ProofChecker:
    """Checks DPoP proofs for one server: the algorithm allow-list and the time window are set here.

    ``window`` is how long after its ``iat`` a proof is accepted (RFC 9449 §11.1 asks for a short one);
    ``future_skew`` how far ahead of our clock its ``iat`` may be.

    Spec: RFC 9449 §4.3, §11.1.
    """

    def __init__(
        self,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        *,
        window: int = DEFAULT_WINDOW,
        future_skew: int = DEFAULT_FUTURE_SKEW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 1 <= window <= 600:
            raise ValueError("the DPoP proof window must be between 1 and 600 seconds")
        if not 0 <= future_skew <= 60:
            raise ValueError("the DPoP future skew must be between 0 and 60 seconds")
        self._jws = jws.CompactVerifier(algorithms, max_header_length=MAX_HEADER_LENGTH)
        self.algorithms = self._jws.algorithms
        self.window = window
        self.future_skew = future_skew
        self._clock = clock
        self._keys: dict[bytes, tuple[jws.VerificationKey, str]] = {}

    @property
    def advertised_algorithms(self) -> list[str]:
        """The allow-list as metadata lists it (``dpop_signing_alg_values_supported``), in a stable order."""
        return sorted(self.algorithms)

    def check(
        self,
        proof: str,
        *,
        method: str,
        url: str,
        access_token: str | None = None,
        nonces: Sequence[str] = (),
    ) -> Proof:
        """Check one proof sent with a request to ``method url``. With ``access_token``, the proof must carry its
        hash (``ath``); with ``nonces``, one of the server's nonces (otherwise :class:`UseDPoPNonce` asks for the
        first, the current one).

        Spec: RFC 9449 §4.3 steps 2–12 (step 1, one ``DPoP`` header, is the caller's).
        """
        try:
            compact = self._jws.parse(proof)
        except jws.JWSError as exc:
            raise InvalidDPoPProof(f"the DPoP proof is malformed: {exc}") from None
        header = compact.header
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() != PROOF_TYPE:
            raise InvalidDPoPProof("the DPoP proof's typ must be dpop+jwt")
        key, jkt = self._header_key(compact)
        try:
            claims = self._jws.verify(compact, key)
        except jws.JWSError as exc:
            raise InvalidDPoPProof(f"the DPoP proof's signature is invalid: {exc}") from None
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise InvalidDPoPProof("the DPoP proof needs a jti of at most 256 characters")
        if claims.get("htm") != method.upper():
            raise InvalidDPoPProof("the DPoP proof's htm does not match this request's method")
        htu = claims.get("htu")
        if not isinstance(htu, str):
            raise InvalidDPoPProof("the DPoP proof needs an htu")
        try:
            matches = normalize_htu(htu) == normalize_htu(url)
        except ValueError:
            matches = False
        if not matches:
            raise InvalidDPoPProof("the DPoP proof's htu does not match this request's URL")
        issued_at = self._issued_at(claims.get("iat"))
        if nonces:
            sent = claims.get("nonce")
            if not isinstance(sent, str) or not any(constant_time_equals(sent, nonce) for nonce in nonces):
                raise UseDPoPNonce(nonces[0], "the DPoP proof must carry the server's current nonce")
        if access_token is not None:
            ath = claims.get("ath")
            if not isinstance(ath, str) or not constant_time_equals(ath, access_token_hash(access_token)):
                raise InvalidDPoPProof("the DPoP proof's ath does not match the access token")
        replay_key = hashlib.sha256(f"{jkt} {jti}".encode()).hexdigest()
        return Proof(
            jkt=jkt,
            jti=jti,
            issued_at=issued_at,
            expires_at=issued_at + self.window,
            replay_key=replay_key,
        )

    def _header_key(self, compact: jws.Compact) -> tuple[jws.VerificationKey, str]:
        """The proof's public key and its thumbprint. A client sends the same header (``typ``, ``alg``, ``jwk``)
        with every proof, so the imported key is remembered by the header's bytes: importing (point validation) and
        hashing the thumbprint cost more than the signature check. The memo is emptied when full, so distinct
        headers cannot grow it."""
        segment = compact.header_segment
        found = self._keys.get(segment)
        if found is not None:
            return found
        jwk = compact.header.get("jwk")
        if not isinstance(jwk, dict):
            raise InvalidDPoPProof("the DPoP proof's header has no jwk object")
        if _PRIVATE_MEMBERS.intersection(jwk):
            raise InvalidDPoPProof("the DPoP proof's jwk must be a public key")
        try:
            key = jws.import_jwk(jwk)
        except jws.JWSError:
            raise InvalidDPoPProof("the DPoP proof's jwk is not a usable public key") from None
        if len(self._keys) >= _KEYS_LIMIT:
            self._keys.clear()
        self._keys[segment] = found = (key, key.key.thumbprint())
        return found

    def _issued_at(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidDPoPProof("the DPoP proof needs a numeric iat")
        now = self._clock()
        if value > now + self.future_skew:
            raise InvalidDPoPProof("the DPoP proof was issued in the future")
        if value < now - self.window:
            raise InvalidDPoPProof("the DPoP proof has expired")
        return int(value)
