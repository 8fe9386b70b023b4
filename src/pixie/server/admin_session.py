"""How the dashboard signs its administrators in: through Pixie itself, as an OAuth client using PKCE.

``/admin`` is a client of the default tenant (``pixie-admin``, public, redirect ``{issuer}/admin/callback``, scope
``pixie:admin``). An administrator goes through the same ``/authorize`` → login → consent → code → token flow as
any user of any app; the dashboard redeems the code in-process and admits the user only when the token carries
``pixie:admin``, which only holders of the ``admin`` role can receive (:data:`pixie.scopes.BUILTIN_SCOPE_ROLES`).

The flow's state and PKCE verifier live in a cookie sealed with AES-GCM under a key derived from the master key:
the browser holds it but can neither read nor forge it, and it is short-lived and spent by the flow itself.

The admin session that follows is kept server-side (``storage.admin_sessions``): the cookie carries a random
256-bit session id, the database only its SHA-256. Every dashboard request looks the session up with its user and
admits it only while the session is unexpired and not revoked, and the user exists, is enabled and still holds
the ``admin`` role; so a session ends at logout, at once when its administrator is disabled or loses the role,
and after :data:`SESSION_SECONDS` in any case. A session refused for its user is revoked on the spot, so
re-enabling the user later does not revive it.

Spec: RFC 7636 §4 (PKCE), RFC 6749 §10.12 (state against CSRF), RFC 9207 (iss); OWASP Session Management Cheat
Sheet (server-side sessions, invalidation at logout and on privilege change).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from dataclasses import dataclass
from typing import Any

from pixie import pkce, scopes
from pixie.analytics import DASHBOARD_CLIENT_ID
from pixie.management import register_client
from pixie.security import decrypt_at_rest, derive_key, encrypt_at_rest, hash_secret, new_token
from pixie.storage.interfaces import AlreadyExists, Storage
from pixie.storage.records import AdminSession, User
from pixie.tenancy import DEFAULT_TENANT
from pixie.types import Timestamp

log = logging.getLogger("pixie.server.admin")

__all__ = [
    "ADMIN_CLIENT_ID",
    "ADMIN_CLIENT_NAME",
    "ADMIN_SCOPE",
    "FLOW_SECONDS",
    "SESSION_SECONDS",
    "FlowState",
    "SessionSealer",
    "end_admin_session",
    "ensure_admin_client",
    "holds_admin_role",
    "new_flow_state",
    "signed_in_admin",
    "start_admin_session",
]

ADMIN_CLIENT_ID = DASHBOARD_CLIENT_ID  # analytics leaves its sign-ins out
ADMIN_CLIENT_NAME = "Pixie administration"
"""How the sign-in page names the dashboard's client."""
ADMIN_SCOPE = "pixie:admin"
FLOW_SECONDS = 600
SESSION_SECONDS = 8 * 3600
MAX_SESSION_ID_LENGTH = 128  # a session id is 43 characters; anything much longer is not worth hashing


@dataclass(frozen=True)
class FlowState:
    state: str
    verifier: str
    expires_at: float
    view: str = ""
    """The dashboard's query (``range=7d&tenant=…``) the administrator asked for before signing in: where the
    sign-in returns to. Sealed with the rest, so nobody else can choose it."""


def new_flow_state(now: float, view: str = "") -> FlowState:
    """A fresh 256-bit state and PKCE verifier for one dashboard sign-in that returns to ``view``."""
    return FlowState(state=new_token(32), verifier=pkce.generate_verifier(), expires_at=now + FLOW_SECONDS, view=view)


class SessionSealer:
    """Seals the sign-in flow's state into a cookie string (AES-GCM, purpose-bound), and opens it."""

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
        return self._seal("flow", {"s": flow.state, "v": flow.verifier, "e": flow.expires_at, "q": flow.view})

    def open_flow(self, sealed: str | None, now: float) -> FlowState | None:
        value = self._open("flow", sealed)
        if value is None or not isinstance(value.get("e"), float | int) or value["e"] <= now:
            return None
        view = value.get("q")
        return FlowState(
            state=str(value["s"]),
            verifier=str(value["v"]),
            expires_at=float(value["e"]),
            view=view if isinstance(view, str) else "",
        )


async def ensure_admin_client(storage: Storage, issuer: str, *, follow_issuer: bool = False) -> None:
    """Register the dashboard's own public client in the default tenant, once. With ``follow_issuer`` (a server
    starting, not a CLI command), also point its one redirect URI at this server's ``{issuer}/admin/callback`` when it
    names another address: the issuer is the operator's to set, and the callback is this server's own page, so the
    client's code still goes nowhere else (exact matching, RFC 9700 §4.1.3)."""
    callback = f"{issuer}/admin/callback"
    found = await storage.clients.get(DEFAULT_TENANT, ADMIN_CLIENT_ID)
    if found is not None:
        if follow_issuer and found.redirect_uris != (callback,):
            log.info("the dashboard's client now signs in at %s (it was %s)", callback, ", ".join(found.redirect_uris))
        if follow_issuer and (found.redirect_uris != (callback,) or found.name != ADMIN_CLIENT_NAME):
            # A client registered before it had a name gets one too (the sign-in page shows it).
            await storage.clients.update(dataclasses.replace(found, redirect_uris=(callback,), name=ADMIN_CLIENT_NAME))
        return
    try:
        await register_client(
            storage,
            DEFAULT_TENANT,
            ADMIN_CLIENT_ID,
            redirect_uris=[callback],
            public=True,
            scopes=[ADMIN_SCOPE],
            grant_types=["authorization_code"],
            name=ADMIN_CLIENT_NAME,
        )
    except AlreadyExists:  # another instance registered it at the same moment
        return


def holds_admin_role(user: User) -> bool:
    """Whether ``user`` may still hold ``pixie:admin`` (the gate of :data:`pixie.scopes.BUILTIN_SCOPE_ROLES`)."""
    return bool(scopes.permitted([ADMIN_SCOPE], user.roles, ()))


async def start_admin_session(storage: Storage, user_id: str, now: Timestamp) -> str:
    """Store a new admin session for ``user_id`` and return its id, for the cookie (only its SHA-256 is stored).

    Spec: OWASP Session Management Cheat Sheet (session ids of at least 64 bits of entropy; here 256).
    """
    session_id = new_token(32)
    await storage.admin_sessions.create(
        AdminSession(
            tenant_id=DEFAULT_TENANT,
            session_hash=hash_secret(session_id),
            user_id=user_id,
            created_at=now,
            expires_at=now + SESSION_SECONDS,
        )
    )
    return session_id


async def signed_in_admin(storage: Storage, session_id: str | None, now: Timestamp) -> User | None:
    """The administrator whose session ``session_id`` is, or None: no such session, expired or revoked, or its
    user gone, disabled or without the ``admin`` role. A live session refused for its user is revoked, so it stays
    ended whatever happens to the user afterwards."""
    if not session_id or len(session_id) > MAX_SESSION_ID_LENGTH:
        return None
    session_hash = hash_secret(session_id)
    found = await storage.admin_sessions.get(DEFAULT_TENANT, session_hash)
    if found is None:
        return None
    session, user = found
    if not session.live(now):
        return None
    if user is None or user.disabled or not holds_admin_role(user):
        await storage.admin_sessions.revoke(DEFAULT_TENANT, session_hash, now)
        return None
    return user


async def end_admin_session(storage: Storage, session_id: str | None, now: Timestamp) -> None:
    """Revoke the admin session ``session_id`` (nothing happens for an unknown one)."""
    if session_id and len(session_id) <= MAX_SESSION_ID_LENGTH:
        await storage.admin_sessions.revoke(DEFAULT_TENANT, hash_secret(session_id), now)
