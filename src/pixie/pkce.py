"""Proof Key for Code Exchange: verifier, challenge and verification (RFC 7636).

Pixie accepts only the ``S256`` method. RFC 7636 §4.2 also defines ``plain``, but OAuth 2.1 §4.1.1 and RFC 9700
§2.1.1 tell servers not to allow it: a ``plain`` challenge is the verifier itself, so anyone who sees the
authorization request can redeem the code.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from pixie.security import constant_time_equals

__all__ = [
    "PKCEError",
    "SUPPORTED_METHODS",
    "create_challenge",
    "generate_verifier",
    "validate_challenge",
    "validate_method",
    "validate_verifier",
    "verify",
]

SUPPORTED_METHODS: tuple[str, ...] = ("S256",)

# RFC 7636 §4.1: code-verifier = 43*128unreserved, unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
_VERIFIER_RE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# RFC 7636 §4.2: an S256 challenge is BASE64URL(SHA256(verifier)) without padding: always 43 characters.
_S256_CHALLENGE_RE = re.compile(r"[A-Za-z0-9\-_]{43}")
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


class PKCEError(ValueError):
    """A verifier, challenge or method that does not meet RFC 7636's syntax. The message says which rule failed."""


def generate_verifier(length: int = 64) -> str:
    """A fresh code verifier of ``length`` characters drawn by :mod:`secrets` from the unreserved set.

    64 characters of a 66-symbol alphabet carry about 387 bits, well above the 256 bits RFC 7636 §7.1 recommends.

    Spec: RFC 7636 §4.1.
    """
    if not 43 <= length <= 128:
        raise PKCEError(f"a code verifier must be 43 to 128 characters long, not {length}")
    return "".join(secrets.choice(_UNRESERVED) for _ in range(length))


def validate_method(method: str) -> None:
    """Refuse every method but ``S256`` (``plain`` included, see the module docstring).

    Spec: RFC 7636 §4.3, OAuth 2.1 §4.1.1, RFC 9700 §2.1.1.
    """
    if method not in SUPPORTED_METHODS:
        raise PKCEError(f"code_challenge_method {method!r} is not supported; use S256")


def validate_verifier(verifier: str) -> None:
    """Check the verifier's length (43–128) and alphabet (unreserved characters only).

    Spec: RFC 7636 §4.1.
    """
    if not 43 <= len(verifier) <= 128:
        raise PKCEError(f"code_verifier must be 43 to 128 characters long, got {len(verifier)}")
    if not _VERIFIER_RE.fullmatch(verifier):
        raise PKCEError("code_verifier may contain only A-Z, a-z, 0-9 and '-', '.', '_', '~'")


def validate_challenge(challenge: str, method: str = "S256") -> None:
    """Check that a challenge can be the S256 transform of some verifier: 43 base64url characters, no padding.

    Spec: RFC 7636 §4.2, §4.3.
    """
    validate_method(method)
    if not _S256_CHALLENGE_RE.fullmatch(challenge):
        raise PKCEError("code_challenge must be 43 base64url characters (BASE64URL(SHA256(verifier)), no padding)")


def create_challenge(verifier: str, method: str = "S256") -> str:
    """The code challenge for ``verifier``: ``BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))``.

    Spec: RFC 7636 §4.2.
    """
    validate_method(method)
    validate_verifier(verifier)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(verifier: str, challenge: str, method: str) -> bool:
    """True iff ``verifier`` transforms to ``challenge`` under ``method``; compared in constant time.

    A malformed verifier is simply not a match (returns False): the token endpoint turns that into
    ``invalid_grant`` without saying which part was wrong. An unsupported method raises :class:`PKCEError`.

    Spec: RFC 7636 §4.6.
    """
    validate_method(method)
    try:
        expected = create_challenge(verifier, method)
    except PKCEError:
        return False
    return constant_time_equals(expected, challenge)
