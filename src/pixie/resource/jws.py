"""Verifying compact JWS from outside and importing JWKs: Pixie's one verification path, on joserfc.

Every signature Pixie checks goes through here — access tokens at a resource server
(:class:`~pixie.resource.verifier.JWTVerifier` with keys from :class:`~pixie.resource.jwks_cache.JWKSCache`) and
Pixie's own tokens presented back to the authorization server (:func:`verify_jwt`, used at introspection and
revocation). joserfc parses the compact serialisation and verifies the signature; this module configures it and
adds the few rules it leaves to its caller. Signing lives elsewhere (:mod:`pixie.tokens.signing`), and parses nothing
that comes from outside.

What joserfc enforces, configured here (:class:`CompactVerifier`'s registry):

* three ``.``-separated parts, each strict base64url (no padding, no ``+``/``/``, canonical trailing bits); header
  segment ≤ 512, payload ≤ 8,192, signature ≤ 1,024 characters;
* ``alg`` is a string in the allow-list; ``kid``, ``typ``, ``cty`` are strings and ``crit`` a list of strings when
  present; each ``crit`` entry names a present parameter among those understood (``alg``, ``kid``, ``typ``, ``cty``,
  ``crit``); ``b64`` (RFC 7797), unless ``true``, is refused. Other parameters are ignored (RFC 7515 §4) — in
  particular ``jku``, ``jwk``, ``x5u`` and ``x5c`` never select a key: the key is always the one the caller passes;
* the key's type and curve fit ``alg``; its ``use`` (if any) is ``sig``, its ``key_ops`` (if any) contain ``verify``,
  its ``alg`` (if any) equals the header's; the signature has the length ``alg`` prescribes and verifies.

What this module adds around it:

* before joserfc sees the token: at most :data:`MAX_TOKEN_LENGTH` characters and ASCII;
* after joserfc has parsed it, before any key is looked up: the header is a JSON object (joserfc accepts any JSON
  value that contains ``"alg"``), ``alg`` is allowed and the header passes the registry's checks — so that a token
  refused for its header never reaches the key look-up (nor a JWK set refresh). A header segment that passed is
  remembered and not checked again here; joserfc still checks it on every verification;
* the payload is a JSON object (RFC 7519 §7.2 step 10);
* keys (:func:`import_jwk`, joserfc parses and validates the JWK): EC on P-256/P-384/P-521, RSA of at least 2048
  bits (joserfc only warns), OKP on Ed25519 only; symmetric keys are refused and private members dropped;
  ``key_ops`` must be a list (joserfc would take a string);
* ``none`` and every HMAC algorithm are refused at configuration (:func:`allowed_algorithms`): with asymmetric keys
  published in a JWK set, HMAC would let anyone sign with the public key as the secret;
* ``EdDSA``, RFC 8037's polymorphic name that RFC 9864 deprecates, is accepted when configured, for Ed25519 keys only
  (the only OKP keys imported), without joserfc's deprecation warning: configuring it is the deliberate choice.

Failures raise :class:`JWSError` whose message names the check, never token content.

Spec: RFC 7515 §5.2 (validation), RFC 7517 §4–5, RFC 7518 §3, RFC 8037 §3.1, RFC 9864, RFC 8725 §3.1–3.2, §3.10.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc.errors import (
    ExceededSizeError,
    InvalidHeaderValueError,
    JoseError,
    MissingAlgorithmError,
    MissingCritHeaderError,
    SecurityWarning,
    UnsupportedHeaderError,
)
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey
from joserfc.jws import CompactSignature, JWSRegistry, extract_compact, validate_compact
from joserfc.registry import JWS_HEADER_REGISTRY, HeaderRegistryDict

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHMS",
    "MAX_TOKEN_LENGTH",
    "Compact",
    "CompactVerifier",
    "JWSError",
    "VerificationKey",
    "VerificationKeys",
    "VerifiedJwt",
    "allowed_algorithms",
    "import_jwk",
    "verify_jwt",
]

MAX_HEADER_LENGTH = 512
MAX_PAYLOAD_LENGTH = 8192
MAX_SIGNATURE_LENGTH = 1024
MAX_TOKEN_LENGTH = MAX_HEADER_LENGTH + MAX_PAYLOAD_LENGTH + MAX_SIGNATURE_LENGTH  # as joserfc counts
MIN_RSA_BITS = 2048
UNDERSTOOD_HEADER = frozenset({"alg", "kid", "typ", "cty", "crit"})
EC_CURVES = frozenset({"P-256", "P-384", "P-521"})
PASSED_HEADERS_LIMIT = 256
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})

ALGORITHMS: tuple[str, ...] = (
    *("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    *("Ed25519", "EdDSA"),
)
"""Signature algorithms that may be allowed (``Ed25519`` is RFC 9864's fully-specified name that Pixie signs with;
``EdDSA`` is the older polymorphic name)."""

DEFAULT_ALGORITHMS: tuple[str, ...] = ("ES256", "RS256", "EdDSA")
"""The allow-list when none is configured: what Pixie can sign with."""


class JWSError(ValueError):
    """A token or key that fails a check. The message names the check, never token content: safe to log."""


def allowed_algorithms(configured: Iterable[str]) -> frozenset[str]:
    """Validate a configured allow-list. ``none`` and HMAC are refused loudly rather than filtered, so a
    misconfiguration fails at start-up instead of silently changing what is accepted.

    Spec: RFC 8725 §3.1 (use an allow-list), §3.2 (``none`` and key confusion).
    """
    names = list(configured)
    if not names:  # joserfc reads an empty allow-list as "its recommended algorithms", HS256 among them
        raise ValueError("at least one signature algorithm must be allowed")
    for name in names:
        if name.lower() == "none" or name.upper().startswith("HS"):
            raise ValueError(f"algorithm {name!r} is never accepted for access tokens (RFC 8725 §3.1, §3.2)")
        if name not in ALGORITHMS:
            raise ValueError(f"unsupported algorithm {name!r}; choose from {', '.join(ALGORITHMS)}")
    allowed = frozenset(names)
    if "EdDSA" in allowed:
        allowed |= {"Ed25519"}  # the same signature under its fully-specified name (RFC 9864 §2.2)
    return allowed


_UNDERSTOOD_HEADER_REGISTRY: HeaderRegistryDict = {name: JWS_HEADER_REGISTRY[name] for name in UNDERSTOOD_HEADER}


class _PolicyRegistry(JWSRegistry):
    """joserfc's JWS registry narrowed to this module's policy: the understood header parameters (others are
    ignored, not refused), the size limits, and the allow-list given at construction."""

    default_header_registry = _UNDERSTOOD_HEADER_REGISTRY
    max_header_length = MAX_HEADER_LENGTH
    max_payload_length = MAX_PAYLOAD_LENGTH
    max_signature_length = MAX_SIGNATURE_LENGTH

    def get_alg(self, name: str) -> JWSAlgModel:
        if name == "EdDSA" and self.allowed and name in self.allowed:
            return self.algorithms[name]  # configured on purpose: no deprecation warning per token
        return super().get_alg(name)


_ALG_MODELS: Mapping[str, JWSAlgModel] = {name: JWSRegistry.algorithms[name] for name in ALGORITHMS}

JoseKey = ECKey | RSAKey | OKPKey


@dataclass(frozen=True)
class VerificationKey:
    """One public key from a JWK set, as joserfc imported it, with its ``kid``."""

    kid: str | None
    key: JoseKey
    _fits: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    def usable_for(self, alg: str) -> bool:
        """Whether this key may check a signature made with ``alg``: joserfc's own key check (type, curve, ``use``,
        ``alg``) and ``key_ops``, remembered per ``alg``.

        Spec: RFC 7517 §4.2–4.4, RFC 7518 §3.1.
        """
        fits = self._fits.get(alg)
        if fits is None:
            model = _ALG_MODELS.get(alg)
            if model is None:
                return False  # not remembered: only supported algorithms may grow the memo
            try:
                model.check_key(self.key)
                self.key.check_key_op("verify")
                fits = True
            except JoseError:
                fits = False
            self._fits[alg] = fits
        return fits


def _modulus_bits(n: object) -> int:
    """The size of an RSA modulus as a JWK gives it; leniently decoded (joserfc decodes it strictly on import, and
    the imported key's size is checked again), so a malformed value counts as large enough here."""
    if not isinstance(n, str):
        return MIN_RSA_BITS
    try:
        return int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big").bit_length()
    except (ValueError, binascii.Error):
        return MIN_RSA_BITS


def import_jwk(jwk: Mapping[str, Any]) -> VerificationKey:
    """A public verification key from a JWK (joserfc parses and validates it). Symmetric keys, unknown curves and
    RSA keys under 2048 bits are refused; private members are dropped.

    Spec: RFC 7517 §4, RFC 7518 §6, RFC 8037 §2.
    """
    if jwk.get("kty") not in ("EC", "RSA", "OKP"):
        raise JWSError("unsupported key type")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and not isinstance(key_ops, list):
        raise JWSError("key_ops must be a list")
    if jwk["kty"] == "RSA" and _modulus_bits(jwk.get("n")) < MIN_RSA_BITS:
        raise JWSError("RSA key shorter than 2048 bits")  # refused before joserfc, which would only warn
    public = {name: value for name, value in jwk.items() if name not in PRIVATE_MEMBERS}
    try:
        key = JWKRegistry.import_key(public)
    except (JoseError, ValueError, TypeError, KeyError, SecurityWarning) as exc:  # a warning raises under -W error
        raise JWSError(f"unusable JWK: {type(exc).__name__}") from None
    if isinstance(key, ECKey):
        if key.curve_name not in EC_CURVES:
            raise JWSError("unsupported EC curve")
    elif isinstance(key, RSAKey):
        if key.public_key.key_size < MIN_RSA_BITS:
            raise JWSError("RSA key shorter than 2048 bits")
    elif not (isinstance(key, OKPKey) and key.curve_name == "Ed25519"):
        raise JWSError("unsupported key")
    return VerificationKey(kid=key.kid, key=key)


class VerificationKeys:
    """The usable keys of one JWK set, by ``kid``.

    Spec: RFC 7517 §5, RFC 7515 §4.1.4 (``kid``).
    """

    def __init__(self, keys: Iterable[VerificationKey]) -> None:
        self._by_kid: dict[str | None, list[VerificationKey]] = {}
        for key in keys:
            self._by_kid.setdefault(key.kid, []).append(key)

    @classmethod
    def from_jwks(cls, document: object) -> VerificationKeys:
        """Import a JWK set. Keys that cannot be used (symmetric, unknown type or curve, short RSA, broken) are
        skipped, as RFC 7517 §5 asks; a set with no usable key is an error."""
        if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
            raise JWSError("the JWK set is not a JSON object with a keys array")
        usable = []
        for entry in document["keys"]:
            if isinstance(entry, Mapping):
                try:
                    usable.append(import_jwk(entry))
                except JWSError:
                    continue
        if not usable:
            raise JWSError("the JWK set has no usable key")
        return cls(usable)

    def __len__(self) -> int:
        return sum(len(keys) for keys in self._by_kid.values())

    def find(self, kid: str | None, alg: str) -> VerificationKey | None:
        """The key published under ``kid`` that fits ``alg``; without ``kid``, the only key that fits ``alg`` (None
        if there are several: guessing would let a token pick among them).

        Spec: RFC 7515 §4.1.4, RFC 7517 §4.5, RFC 8725 §3.10.
        """
        if kid is None:
            fit = [key for keys in self._by_kid.values() for key in keys if key.usable_for(alg)]
            return fit[0] if len(fit) == 1 else None
        return next((key for key in self._by_kid.get(kid, ()) if key.usable_for(alg)), None)


class Compact:
    """A compact JWS parsed by joserfc and with its header checked, before its signature is."""

    __slots__ = ("_signature", "alg", "header", "kid")

    @property
    def header_segment(self) -> bytes:
        """The header as it was sent (base64url): the same bytes always decode to the same header."""
        segment: bytes = self._signature.segments["header"]
        return segment

    def __init__(self, signature: CompactSignature, header: Mapping[str, Any], alg: str, kid: str | None) -> None:
        self._signature = signature
        self.header = header
        self.alg = alg
        self.kid = kid


class CompactVerifier:
    """Parses and verifies compact JWS under one algorithm allow-list; the joserfc registry is built once, here.

    Two steps so that a caller can look the key up in between (possibly fetching a JWK set): :meth:`parse`, then
    :meth:`verify`.

    Spec: RFC 7515 §5.2, RFC 8725 §3.1.
    """

    def __init__(
        self, algorithms: Iterable[str] = DEFAULT_ALGORITHMS, *, max_header_length: int = MAX_HEADER_LENGTH
    ) -> None:
        self.algorithms = allowed_algorithms(algorithms)
        self._registry = _PolicyRegistry(algorithms=sorted(self.algorithms), strict_check_header=False)
        if max_header_length != MAX_HEADER_LENGTH:  # a header that carries a key (DPoP's jwk) is longer
            self._registry.max_header_length = max_header_length
        self._max_token_length = max_header_length + MAX_PAYLOAD_LENGTH + MAX_SIGNATURE_LENGTH
        self._passed: set[bytes] = set()

    def parse(self, token: str) -> Compact:
        """Split and decode a compact JWS (joserfc) and check its header: sizes, encoding, ``alg`` allow-list,
        parameter types, ``crit``, ``b64``.

        Spec: RFC 7515 §5.2 steps 1–5, §4.1.11 (``crit``); RFC 7797 §6; RFC 8725 §3.1.
        """
        if len(token) > self._max_token_length or not token.isascii():
            raise JWSError("token too long or not ASCII")
        try:
            signature = extract_compact(token.encode("ascii"), registry=self._registry)
        except ExceededSizeError:
            raise JWSError("token part too long") from None
        except MissingAlgorithmError:
            raise JWSError("the header has no alg") from None
        except MissingCritHeaderError:  # joserfc's answer to a b64 that is not true and not critical
            raise JWSError("unencoded payloads (RFC 7797) are not accepted") from None
        except (JoseError, ValueError, TypeError):
            raise JWSError("not a compact JWS of three base64url parts with a JSON header") from None
        header = signature.protected
        if signature.segments["header"] not in self._passed:
            self._check_header(signature.segments["header"], header)
        return Compact(signature, header, header["alg"], header.get("kid"))

    def _check_header(self, segment: bytes, header: object) -> None:
        """The header is a JSON object, ``alg`` is allowed and joserfc's registry accepts the rest. Passing header
        segments are remembered — an issuer's tokens share one header per key, and the outcome depends on the
        segment alone — in a set that is emptied when full, so distinct headers cannot grow it."""
        if not isinstance(header, dict):
            raise JWSError("malformed header")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise JWSError("algorithm not allowed")
        try:
            self._registry.check_header(header)
        except (UnsupportedHeaderError, MissingCritHeaderError):
            raise JWSError("unsupported critical header parameter") from None
        except InvalidHeaderValueError:
            raise JWSError("kid, typ and cty must be strings, crit a list of strings") from None
        except (JoseError, ValueError, TypeError):  # e.g. crit entries that are not strings
            raise JWSError("malformed header") from None
        if len(self._passed) >= PASSED_HEADERS_LIMIT:
            self._passed.clear()
        self._passed.add(segment)

    def verify(self, compact: Compact, key: VerificationKey) -> dict[str, Any]:
        """Check the signature of a parsed token with ``key`` (joserfc) and return its claims (a JSON object).

        Spec: RFC 7515 §5.2 steps 6–8, RFC 7518 §3.3–3.5, RFC 8037 §3.1, RFC 7519 §7.2 step 10.
        """
        if not key.usable_for(compact.alg):
            raise JWSError("key does not fit the algorithm")
        try:
            valid = validate_compact(compact._signature, key.key, registry=self._registry)
        except (JoseError, ValueError, TypeError):
            raise JWSError("key does not fit the algorithm") from None
        if not valid:
            raise JWSError("bad signature")
        try:
            claims = json.loads(compact._signature.payload)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise JWSError("malformed payload") from None
        if not isinstance(claims, dict):
            raise JWSError("payload is not a JSON object")
        return claims


@dataclass(frozen=True)
class VerifiedJwt:
    header: Mapping[str, Any]
    claims: dict[str, Any]


_VERIFIERS: dict[frozenset[str], CompactVerifier] = {}
_KEY_SETS: dict[int, tuple[object, VerificationKeys]] = {}
_KEY_SETS_LIMIT = 256


def _imported(jwks: Mapping[str, Any]) -> VerificationKeys:
    """The imported form of a JWK set document, memoised by identity: the key ring hands out the same document
    object while it is cached, and importing (parsing, point validation) costs more than verifying. The entry keeps
    the document alive, so its ``id`` cannot be reused by another object while cached."""
    found = _KEY_SETS.get(id(jwks))
    if found is not None and found[0] is jwks:
        return found[1]
    keys = VerificationKeys.from_jwks(jwks)
    if len(_KEY_SETS) >= _KEY_SETS_LIMIT:
        _KEY_SETS.clear()
    _KEY_SETS[id(jwks)] = (jwks, keys)
    return keys


def verify_jwt(token: str, jwks: Mapping[str, Any], algorithms: Iterable[str] = DEFAULT_ALGORITHMS) -> VerifiedJwt:
    """Check ``token``'s signature with the key of a JWK set document that its ``kid`` names and return header and
    claims. Only the signature and algorithm are checked here; claim rules (``iss``, ``aud``, ``exp``, ``typ``)
    belong to the caller (RFC 9068 §4).

    Spec: RFC 7515 §5.2, RFC 7517 §5.
    """
    allowed = frozenset(algorithms)
    verifier = _VERIFIERS.get(allowed)
    if verifier is None:
        verifier = _VERIFIERS.setdefault(allowed, CompactVerifier(allowed))
    compact = verifier.parse(token)
    key = _imported(jwks).find(compact.kid, compact.alg)
    if key is None:
        raise JWSError("no published key fits the token's kid and alg")
    return VerifiedJwt(header=compact.header, claims=verifier.verify(compact, key))
