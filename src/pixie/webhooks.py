"""Webhooks: a tenant's subscriptions to flow events, and the signature every delivery carries.

A delivery is a JSON body (the event as in the audit log, plus an id) with the header
``Pixie-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``. Receivers check it with
:func:`verify_signature`: the timestamp bounds replays, the MAC proves the body came from Pixie unchanged.

Subscriptions live in the tenant's settings. The HMAC key must be usable, so it cannot be stored hashed; it is
sealed with AES-GCM under a key derived from the master key (like signing keys) and shown once when created.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass

from pixie.security import decrypt_at_rest, derive_key, encrypt_at_rest, new_token

__all__ = [
    "SIGNATURE_HEADER",
    "Webhook",
    "new_webhook",
    "open_secret",
    "sign",
    "verify_signature",
    "webhooks_from_settings",
    "webhooks_to_settings",
]

SIGNATURE_HEADER = "Pixie-Signature"
_PURPOSE = "pixie-webhook-secrets"


@dataclass(frozen=True)
class Webhook:
    url: str
    sealed_secret: str
    events: tuple[str, ...]
    """Event kinds delivered; empty means every kind."""

    def wants(self, kind: str) -> bool:
        return not self.events or kind in self.events


def _context(tenant_id: str, url: str) -> str:
    return f"webhook:{tenant_id}:{url}"


def new_webhook(master_key: bytes, tenant_id: str, url: str, events: Iterable[str]) -> tuple[Webhook, str]:
    """A subscription with a fresh 256-bit secret; returns it with the secret in clear (to show once)."""
    secret = "whsec_" + new_token(32)
    blob = encrypt_at_rest(derive_key(master_key, _PURPOSE), secret.encode("ascii"), _context(tenant_id, url))
    sealed = base64.urlsafe_b64encode(blob).decode("ascii")
    return Webhook(url=url, sealed_secret=sealed, events=tuple(dict.fromkeys(events))), secret


def open_secret(master_key: bytes, tenant_id: str, webhook: Webhook) -> str:
    blob = base64.urlsafe_b64decode(webhook.sealed_secret)
    return decrypt_at_rest(derive_key(master_key, _PURPOSE), blob, _context(tenant_id, webhook.url)).decode("ascii")


def webhooks_from_settings(stored: Iterable[tuple[str, str, tuple[str, ...]]]) -> tuple[Webhook, ...]:
    return tuple(Webhook(url, sealed, tuple(events)) for url, sealed, events in stored)


def webhooks_to_settings(webhooks: Iterable[Webhook]) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    return tuple((hook.url, hook.sealed_secret, hook.events) for hook in webhooks)


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Pixie-Signature`` header value for ``body``."""
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode("utf-8"), f"{stamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def verify_signature(
    secret: str, body: bytes, header: str | None, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """For receivers: true iff ``header`` signs ``body`` with ``secret`` and its timestamp is within
    ``tolerance`` seconds of now. Compared in constant time."""
    if not header:
        return False
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not given:
        return False
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance:
        return False
    expected = sign(secret, body, int(stamp)).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)
