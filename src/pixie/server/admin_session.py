"""How the dashboard signs its administrators in: through Pixie itself, as an OAuth client using PKCE.

``/admin`` is a client of the default tenant (``pixie-admin``, public, redirect ``{issuer}/admin/callback``, scope
``pixie:admin``). An administrator goes through the same ``/authorize`` → login → consent → code → token flow as
any user of any app; the dashboard redeems the code in-process and admits the user only when the token carries
``pixie:admin``, which only holders of the ``admin`` role can receive (:data:`pixie.scopes.BUILTIN_SCOPE_ROLES`).

The flow's state and PKCE verifier, and afterwards the admin session, live in cookies sealed with AES-GCM under a
key derived from the master key: the browser holds them but can neither read nor forge them.

Spec: RFC 7636 §4 (PKCE), RFC 6749 §10.12 (state against CSRF), RFC 9207 (iss), RFC 8252 §7.3 (loopback ports).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from pixie import pkce
from pixie.management import register_client
from pixie.security import decrypt_at_rest, derive_key, encrypt_at_rest, new_token
from pixie.storage.interfaces import AlreadyExists, Storage
from pixie.tenancy import DEFAULT_TENANT

__all__ = [
    "ADMIN_CLIENT_ID",
    "ADMIN_SCOPE",
    "AdminSession",
    "FlowState",
    "SessionSealer",
    "ensure_admin_client",
    "new_flow_state",
]

ADMIN_CLIENT_ID = "pixie-admin"
ADMIN_SCOPE = "pixie:admin"
FLOW_SECONDS = 600
SESSION_SECONDS = 8 * 3600


@dataclass(frozen=True)
class FlowState:
    state: str
    verifier: str
    expires_at: float


@dataclass(frozen=True)
class AdminSession:
    subject: str
    expires_at: float


def new_flow_state(now: float) -> FlowState:
    """A fresh 256-bit state and PKCE verifier for one dashboard sign-in."""
    return FlowState(state=new_token(32), verifier=pkce.generate_verifier(), expires_at=now + FLOW_SECONDS)


class SessionSealer:
    """Seals small JSON values into cookie strings (AES-GCM, purpose-bound), and opens them."""

    def __init__(self, master_key: bytes) -> None:
        self._key = derive_key(master_key, "pixie-admin-cookies")

    def _seal(self, kind: str, value: dict[str, Any]) -> str:
        blob = encrypt_at_rest(self._key, json.dumps(value).encode("utf-8"), kind)
        return base64.urlsafe_b64encode(blob).decode("ascii").rstrip("=")

    def _open(self, kind: str, sealed: str | None) -> dict[str, Any] | None:
        if not sealed or len(sealed) > 4096:
            return None
        try:
            blob = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
            value = json.loads(decrypt_at_rest(self._key, blob, kind))
        except Exception:  # tampered, truncated, another key, not JSON: all mean "no value"
            return None
        return value if isinstance(value, dict) else None

    def seal_flow(self, flow: FlowState) -> str:
        return self._seal("flow", {"s": flow.state, "v": flow.verifier, "e": flow.expires_at})

    def open_flow(self, sealed: str | None, now: float) -> FlowState | None:
        value = self._open("flow", sealed)
        if value is None or not isinstance(value.get("e"), float | int) or value["e"] <= now:
            return None
        return FlowState(state=str(value["s"]), verifier=str(value["v"]), expires_at=float(value["e"]))

    def seal_session(self, session: AdminSession) -> str:
        return self._seal("session", {"sub": session.subject, "e": session.expires_at})

    def open_session(self, sealed: str | None, now: float) -> AdminSession | None:
        value = self._open("session", sealed)
        if value is None or not isinstance(value.get("e"), float | int) or value["e"] <= now:
            return None
        return AdminSession(subject=str(value["sub"]), expires_at=float(value["e"]))


async def ensure_admin_client(storage: Storage, issuer: str) -> None:
    """Register the dashboard's own public client in the default tenant, once."""
    if await storage.clients.get(DEFAULT_TENANT, ADMIN_CLIENT_ID) is not None:
        return
    try:
        await register_client(
            storage,
            DEFAULT_TENANT,
            ADMIN_CLIENT_ID,
            redirect_uris=[f"{issuer}/admin/callback"],
            public=True,
            scopes=[ADMIN_SCOPE],
            grant_types=["authorization_code"],
        )
    except AlreadyExists:  # another instance registered it at the same moment
        return


def session_expiry(now: float | None = None) -> float:
    return (now or time.time()) + SESSION_SECONDS
