"""Authorization codes that carry their own grant: sealed when issued, opened when redeemed, stored once used.

An authorization code is the record of what the user granted — client, redirect URI, PKCE challenge, scopes, user,
times, nonce, session, DPoP key, resources — encrypted and authenticated under a key derived from the master key.
``/authorize`` writes nothing to issue one, and the token endpoint reads nothing to learn what it stands for: every
instance that shares the master key can open it, and nobody without the key can read, alter or forge one.

What storage still does is what only storage can: make a code single-use. Redemption inserts the code's hash (with
what it produced: the refresh family and the first access token) in the same statement that starts the refresh
family; the unique key on ``(tenant_id, code_hash)`` lets exactly one of any number of concurrent redemptions in
any processes succeed, and a later one finds the row and revokes what the first produced. So a code exchange costs
one write and no read, where a stored code cost an insert at ``/authorize``, a conditional update and a write.

Format: ``pc1_`` + base64url(salt ‖ AES-256-GCM(k, 0⁹⁶, payload, aad = tenant id)), where ``salt`` is 128 random
bits and ``k = HMAC-SHA256(K, salt)`` with ``K = HKDF(master key, "pixie authorization code v1")``. Each code has a
key of its own, so the constant nonce is never used twice under one key; the associated data binds the code to its
tenant. The payload is compact JSON. The code's hash (SHA-256 of the whole string, as for every secret Pixie keeps)
is its name in storage.

Spec: RFC 6749 §4.1.2 and §10.5 (codes: short-lived, single use, unguessable), RFC 9700 §4.2.4 (replay revokes),
RFC 5116 (AEAD), RFC 5869 (HKDF).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pixie.security import derive_key, hash_secret
from pixie.storage.records import AuthorizationCode
from pixie.types import TenantId

__all__ = ["CodeSealer"]

_PREFIX = "pc1_"
_SALT_BYTES = 16
_NONCE = bytes(12)
_MAX_CODE_CHARS = 32768
"""Longer than any code Pixie seals: a code grows with what its request carried (redirect URI, nonce of at most 512
characters, up to 10 resources, scopes), and an authorization request's line is at most 16 KiB
(:mod:`pixie.server.http_limits`). A typical code is about 450 characters."""


class CodeSealer:
    """Seals :class:`AuthorizationCode` records into codes and opens them again, under one master key."""

    def __init__(self, master_key: bytes) -> None:
        self._key = derive_key(master_key, "pixie authorization code v1")

    def _aead(self, salt: bytes) -> AESGCM:
        return AESGCM(hmac.new(self._key, salt, hashlib.sha256).digest())

    def seal(self, code: AuthorizationCode) -> str:
        """The code to hand to the client. ``code.code_hash`` and the redemption fields are ignored (a code's hash
        is that of the string returned; it is redeemed later)."""
        payload = {
            "c": code.client_id,
            "u": code.user_id,
            "r": code.redirect_uri,
            "rp": code.redirect_uri_provided,
            "s": list(code.scopes),
            "ch": code.code_challenge,
            "cm": code.code_challenge_method,
            "at": code.auth_time,
            "ci": code.correlation_id,
            "ca": code.created_at,
            "ex": code.expires_at,
            "n": code.nonce,
            "sid": code.sid,
            "jkt": code.dpop_jkt,
            "res": list(code.resources),
        }
        plaintext = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        salt = secrets.token_bytes(_SALT_BYTES)
        sealed = salt + self._aead(salt).encrypt(_NONCE, plaintext, code.tenant_id.encode("utf-8"))
        return _PREFIX + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, code: str, tenant_id: TenantId) -> AuthorizationCode | None:
        """The record a code of ``tenant_id`` stands for (its ``code_hash`` set, not yet redeemed), or None for
        anything this key did not seal for this tenant: malformed, altered, another tenant's, another key's."""
        if not code.startswith(_PREFIX) or len(code) > _MAX_CODE_CHARS:
            return None
        body = code[len(_PREFIX) :]
        try:
            sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            return None
        # One spelling per code: the decoder skips stray characters and ignores a last character's spare bits, and a
        # second spelling of one code would have another hash — a second, unnoticed redemption.
        if base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii") != body:
            return None
        salt, ciphertext = sealed[:_SALT_BYTES], sealed[_SALT_BYTES:]
        if len(salt) < _SALT_BYTES:
            return None
        try:
            plaintext = self._aead(salt).decrypt(_NONCE, ciphertext, tenant_id.encode("utf-8"))
        except (InvalidTag, ValueError):
            return None
        fields: dict[str, Any] = json.loads(plaintext)
        return AuthorizationCode(
            tenant_id=tenant_id,
            code_hash=hash_secret(code),
            client_id=fields["c"],
            user_id=fields["u"],
            redirect_uri=fields["r"],
            redirect_uri_provided=fields["rp"],
            scopes=tuple(fields["s"]),
            code_challenge=fields["ch"],
            code_challenge_method=fields["cm"],
            auth_time=fields["at"],
            correlation_id=fields["ci"],
            created_at=fields["ca"],
            expires_at=fields["ex"],
            nonce=fields["n"],
            sid=fields["sid"],
            dpop_jkt=fields["jkt"],
            resources=tuple(fields["res"]),
        )
