"""Randomness, hashing and constant-time comparison: the only primitives Pixie's protocol code uses for secrets.

Every secret Pixie hands out (codes, refresh tokens, session ids, client secrets) comes from :mod:`secrets` and is
stored only as its SHA-256 digest (ARCHITECTURE §6.6). Lookups are by digest, so a database read never needs the
plaintext, and comparisons of secrets go through :func:`constant_time_equals`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "DecryptionFailed",
    "constant_time_equals",
    "decrypt_at_rest",
    "derive_key",
    "encrypt_at_rest",
    "hash_secret",
    "key_fingerprint",
    "new_id",
    "new_token",
]

_NONCE_BYTES = 12


class DecryptionFailed(ValueError):
    """Ciphertext that the key cannot open: wrong master key, wrong context, or tampering."""


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


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 256-bit key for one purpose, derived from ``secret`` with HKDF-SHA256 (RFC 5869)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode("utf-8")).derive(secret)


def key_fingerprint(key: bytes) -> str:
    """A short public name for a master key, stored beside what it sealed and shown in error messages: the first 64
    bits of HMAC-SHA256 keyed with ``key`` over a fixed label, in hex.

    It is one-way (learning the key from it means inverting HMAC-SHA256 over a 256-bit key) and independent of every
    key derived for encryption (those come from HKDF with other labels), so it reveals nothing that helps open a
    sealed value. 64 bits tell a deployment's few keys apart; they are not meant to resist a search for a collision.
    """
    return hmac.new(key, b"pixie master-key fingerprint v1", hashlib.sha256).hexdigest()[:16]


def encrypt_at_rest(key: bytes, plaintext: bytes, context: str) -> bytes:
    """AES-256-GCM with a random nonce; ``context`` (e.g. tenant and kid) is bound as associated data so a
    ciphertext cannot be moved to another row. Output: nonce || ciphertext+tag."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context.encode("utf-8"))


def decrypt_at_rest(key: bytes, blob: bytes, context: str) -> bytes:
    """Open what :func:`encrypt_at_rest` sealed under the same key and context."""
    try:
        return AESGCM(key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], context.encode("utf-8"))
    except (InvalidTag, ValueError):
        raise DecryptionFailed("cannot decrypt: wrong key or context, or the data was altered") from None
