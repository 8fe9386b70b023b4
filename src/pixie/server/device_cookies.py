"""Device cookies: a browser that has signed in as a user before is recognised when it tries again, so failed
sign-ins from anywhere else can never lock it out (OWASP, "Slow Down Online Guessing Attacks with Device Cookies").

Each successful sign-in leaves one cookie per user and tenant (several people sharing a browser each keep theirs):

- name: ``pixie-device[-tenant]-{tag}`` (``__Host-`` prefixed on https), where ``tag`` is a MAC of the user id, so
  the name finds the user's cookie without saying who the user is;
- value: ``{user_id}.{issued_at}.{nonce}.{mac}``, the MAC (HMAC-SHA256, RFC 2104) taken over the tenant, user id,
  issue time and a random nonce under a key derived from the master key (HKDF, :func:`pixie.security.derive_key`);
- ``HttpOnly``, ``SameSite=Lax``, ``Secure`` on https, kept for :data:`DEVICE_COOKIE_MAX_AGE`. A new one, with a new
  nonce, replaces it at each successful sign-in.

A device cookie proves nothing about who is at the keyboard — the password is checked as always. It only decides
which limits the attempt is counted against (:mod:`pixie.server.ratelimit`): the device's own, keyed by its nonce.
A cookie that is forged, altered, for another user or tenant, too old, or sealed under a previous master key is
ignored, and the browser is treated as unknown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response

from pixie.security import constant_time_equals, derive_key, new_token
from pixie.server.cookies import device_cookie_name, read_cookie, set_cookie
from pixie.storage.records import Tenant, User
from pixie.types import Timestamp

__all__ = ["DEVICE_COOKIE_MAX_AGE", "DeviceCookies"]

DEVICE_COOKIE_MAX_AGE = 365 * 24 * 3600
"""How long a browser stays recognised after its last successful sign-in (seconds)."""

_PURPOSE = "pixie device cookie"
_MAX_VALUE_LENGTH = 512


class DeviceCookies:
    """Issues and recognises device cookies under the key derived from ``master_key``."""

    def __init__(self, master_key: bytes) -> None:
        self._key = derive_key(master_key, _PURPOSE)

    def _mac(self, *parts: str) -> str:
        digest = hmac.new(self._key, "\x00".join(parts).encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def _name(self, tenant: Tenant, issuer: str, user_id: str) -> str:
        return device_cookie_name(tenant, issuer, self._mac("name", tenant.id, user_id)[:16])

    def attach(self, response: Response, tenant: Tenant, issuer: str, user: User, now: Timestamp) -> None:
        """Give this browser a fresh device cookie for ``user`` (after a successful sign-in)."""
        issued = str(int(now))
        nonce = new_token(16)
        mac = self._mac("device", tenant.id, user.user_id, issued, nonce)
        value = f"{user.user_id}.{issued}.{nonce}.{mac}"
        set_cookie(
            response,
            name=self._name(tenant, issuer, user.user_id),
            value=value,
            max_age=DEVICE_COOKIE_MAX_AGE,
            issuer=issuer,
        )

    def recognise(self, request: Request, tenant: Tenant, issuer: str, user: User, now: Timestamp) -> str | None:
        """The nonce of this browser's valid device cookie for ``user``, or None when it has none."""
        value = read_cookie(request, self._name(tenant, issuer, user.user_id))
        if not value or len(value) > _MAX_VALUE_LENGTH:
            return None
        parts = value.rsplit(".", 3)
        if len(parts) != 4:
            return None
        user_id, issued, nonce, mac = parts
        if not constant_time_equals(mac, self._mac("device", tenant.id, user_id, issued, nonce)):
            return None
        if user_id != user.user_id or not issued.isdigit() or now - int(issued) > DEVICE_COOKIE_MAX_AGE:
            return None
        return nonce
