"""Randomness, hashing and constant-time comparison: the only primitives Pixie's protocol code uses for secrets.

Every secret Pixie hands out (codes, refresh tokens, session ids, client secrets) comes from :mod:`secrets` and is
stored only as its SHA-256 digest (ARCHITECTURE §6.6). Lookups are by digest, so a database read never needs the
plaintext, and comparisons of secrets go through :func:`constant_time_equals`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["constant_time_equals", "hash_secret", "new_id", "new_token"]


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random token with ``nbytes`` of entropy (256 bits by default).

    Spec: RFC 6749 §10.10 (credentials guessing: at least 128 bits; we use 256), RFC 9700 §4.
    """
    return secrets.token_urlsafe(nbytes)


def new_id(nbytes: int = 16) -> str:
    """A random identifier (not a secret on its own): ``jti``, family ids, correlation ids."""
    return secrets.token_urlsafe(nbytes)


def hash_secret(value: str) -> str:
    """SHA-256 hex digest of a high-entropy secret, the only form in which it is stored.

    SHA-256 (not a password hash) is right here because the input is 256 random bits: no dictionary to attack.
    """
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    """Compare two secrets without leaking, through timing, where they first differ."""
    a_bytes = a.encode("utf-8") if isinstance(a, str) else a
    b_bytes = b.encode("utf-8") if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)
