"""Pushed authorization requests (RFC 9126): what a push stores, and how ``/authorize`` gets it back.

A client pushes its authorization request's parameters to ``/par`` over the back channel, authenticated as at the
token endpoint; they are validated exactly as ``/authorize`` would validate them before anything is stored. The
answer is a ``request_uri`` (``urn:ietf:params:oauth:request_uri:`` and 256 random bits, stored only as its SHA-256
digest) that lives 60 seconds and works once: ``/authorize?client_id=…&request_uri=…`` then runs on the pushed
parameters, every other query parameter ignored.

Spec: RFC 9126 §2 (the push), §2.2 (``expires_in``), §4 (``/authorize`` with ``request_uri``: one-time use,
``client_id`` must match), §5–6 (requiring pushes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pixie.errors import InvalidRequest
from pixie.security import hash_secret, new_token
from pixie.server.grants.authorization_code import UntrustedRequest, single_params
from pixie.storage.interfaces import PushedRequestStore
from pixie.storage.records import PushedRequest
from pixie.types import TenantId, Timestamp

__all__ = ["PUSHED_LIFETIME", "REQUEST_URI_PREFIX", "pushed_parameters", "store_pushed"]

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
PUSHED_LIFETIME = 60
"""Seconds a ``request_uri`` may wait for its ``/authorize`` (RFC 9126 §2.2 suggests 5 to 600; a browser
redirect follows the push at once)."""


async def store_pushed(
    store: PushedRequestStore,
    *,
    tenant_id: TenantId,
    client_id: str,
    pairs: Sequence[tuple[str, str]],
    now: Timestamp,
) -> str:
    """Store validated parameters; return their new ``request_uri`` (handed out once, stored as a digest)."""
    request_uri = REQUEST_URI_PREFIX + new_token(32)
    await store.create(
        PushedRequest(
            tenant_id=tenant_id,
            uri_hash=hash_secret(request_uri),
            client_id=client_id,
            parameters=json.dumps([list(pair) for pair in pairs]),
            created_at=now,
            expires_at=now + PUSHED_LIFETIME,
        )
    )
    return request_uri


async def pushed_parameters(
    pairs: Sequence[tuple[str, str]], *, tenant_id: TenantId, store: PushedRequestStore, now: Timestamp
) -> list[tuple[str, str]] | None:
    """The pushed parameters named by this ``/authorize`` request's ``request_uri``, taken (one use); None when it
    names none of ours (a ``request_uri`` of another kind is left to the usual validation, which refuses request
    objects). Errors here are shown on our own page: nothing is trusted enough to redirect to.

    Spec: RFC 9126 §4.
    """
    params, repeated = single_params(pairs, ("client_id", "request_uri"))
    request_uri = params.get("request_uri")
    if request_uri is None or not request_uri.startswith(REQUEST_URI_PREFIX):
        return None
    if repeated:
        raise UntrustedRequest(InvalidRequest(f"parameter repeated: {', '.join(repeated)}"))
    client_id = params.get("client_id")
    if not client_id:
        raise UntrustedRequest(InvalidRequest("client_id is missing"))
    pushed = await store.take(tenant_id, hash_secret(request_uri), now)
    if pushed is None:
        raise UntrustedRequest(InvalidRequest("request_uri is unknown, already used or expired"))
    if pushed.client_id != client_id:
        raise UntrustedRequest(InvalidRequest("request_uri was pushed by another client"))
    return [(str(name), str(value)) for name, value in json.loads(pushed.parameters)]
