"""Webhooks: a tenant's subscriptions to flow events, and the signature every delivery carries.

A delivery is a JSON body (the event as in the audit log, plus an id) with the header
``Pixie-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``. Receivers check it with
:func:`verify_signature`: the timestamp bounds replays, the MAC proves the body came from Pixie unchanged.

Subscriptions live in the tenant's settings. The HMAC key must be usable, so it cannot be stored hashed; it is
sealed with AES-GCM under a key derived from the master key (like signing keys) and shown once when created;
:func:`reseal_webhooks` moves it to a new master key (``pixie secret rotate``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass

from pixie.security import DecryptionFailed, decrypt_at_rest, derive_key, encrypt_at_rest, new_token

__all__ = [
    "SIGNATURE_HEADER",
    "Webhook",
    "new_webhook",
    "open_secret",
    "reseal_webhooks",
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


def _seal(master_key: bytes, tenant_id: str, url: str, secret: str) -> str:
    blob = encrypt_at_rest(derive_key(master_key, _PURPOSE), secret.encode("ascii"), _context(tenant_id, url))
    return base64.urlsafe_b64encode(blob).decode("ascii")


def new_webhook(master_key: bytes, tenant_id: str, url: str, events: Iterable[str]) -> tuple[Webhook, str]:
    """A subscription with a fresh 256-bit secret; returns it with the secret in clear (to show once)."""
    secret = "whsec_" + new_token(32)
    sealed = _seal(master_key, tenant_id, url, secret)
    return Webhook(url=url, sealed_secret=sealed, events=tuple(dict.fromkeys(events))), secret


def open_secret(master_key: bytes, tenant_id: str, webhook: Webhook) -> str:
    """The secret in clear. Raises :class:`~pixie.security.DecryptionFailed` under another master key."""
    blob = base64.urlsafe_b64decode(webhook.sealed_secret)
    return decrypt_at_rest(derive_key(master_key, _PURPOSE), blob, _context(tenant_id, webhook.url)).decode("ascii")


def reseal_webhooks(
    tenant_id: str, webhooks: Iterable[Webhook], old_master_key: bytes, new_master_key: bytes
) -> tuple[tuple[Webhook, ...], int]:
    """A tenant's subscriptions with every secret sealed under ``new_master_key`` (the secrets themselves, and so
    what receivers check, do not change), and how many had to be re-sealed: none are when an interrupted rotation
    being finished already did. Raises :class:`~pixie.security.DecryptionFailed` naming the URL whose secret neither
    key opens."""
    resealed = []
    moved = 0
    for hook in webhooks:
        try:
            open_secret(new_master_key, tenant_id, hook)
        except DecryptionFailed:
            pass
        else:
            resealed.append(hook)
            continue
        try:
            secret = open_secret(old_master_key, tenant_id, hook)
        except DecryptionFailed:
            raise DecryptionFailed(
                f"the secret of webhook {hook.url} of tenant {tenant_id!r} opens with neither master key"
            ) from None
        resealed.append(Webhook(hook.url, _seal(new_master_key, tenant_id, hook.url, secret), hook.events))
        moved += 1
    return tuple(resealed), moved


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
