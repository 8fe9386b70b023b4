"""Password hashing with Argon2id (argon2-cffi), the only way Pixie stores a user's password.

Hashing and verification are CPU-bound by design (tens of milliseconds); the HTTP edge runs them in a worker thread
so one login never stalls other requests.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["PasswordPolicy", "dummy_verify", "hash_password", "verify_password", "warm_up"]

# argon2-cffi's defaults follow RFC 9106 §4's second recommended option (t=3, m=64 MiB, p=4), Argon2id.
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so a miss costs the same time as a wrong password. Made on
    first use, not at import: every ``pixie`` command would otherwise pay a full Argon2 hash to start."""
    return _HASHER.hash("pixie-dummy-password-for-timing")


class PasswordPolicy:
    """Minimum rules for new passwords (NIST SP 800-63B §5.1.1: length matters, composition rules do not)."""

    min_length = 8
    max_length = 1024

    @classmethod
    def check(cls, password: str) -> None:
        if len(password) < cls.min_length:
            raise ValueError(f"password must be at least {cls.min_length} characters")
        if len(password) > cls.max_length:
            raise ValueError(f"password must be at most {cls.max_length} characters")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def warm_up() -> None:
    """Make the dummy hash now (a server calls this at start, so the first unknown username is not slower)."""
    _dummy_hash()


def dummy_verify(password: str) -> None:
    """Spend the time of a real verification (user enumeration by timing, RFC 9700 §4.1 spirit)."""
    verify_password(_dummy_hash(), password)
