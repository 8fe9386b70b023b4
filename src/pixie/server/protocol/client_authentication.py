"""Client authentication at the token, revocation and introspection endpoints.

Public clients send only ``client_id`` (method ``none``). Confidential clients authenticate with their secret,
through HTTP Basic (``client_secret_basic``) or the form body (``client_secret_post``), never both at once.

Spec: RFC 6749 §2.3.1 and §3.2.1, OAuth 2.1 §2.4, RFC 7591 §2 (``token_endpoint_auth_method``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from urllib.parse import unquote_plus

from pixie.errors import InvalidClient, InvalidRequest
from pixie.security import constant_time_equals, hash_secret
from pixie.storage.interfaces import ClientStore
from pixie.storage.records import Client
from pixie.types import TenantId

__all__ = ["authenticate_client", "parse_basic"]

_UNKNOWN_CLIENT_HASH = hash_secret("pixie: no such client")


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """Decode ``Authorization: Basic``; id and secret are form-urlencoded inside it (RFC 6749 §2.3.1).

    Returns None without the header; raises :class:`InvalidClient` when it is malformed.
    """
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("malformed Basic credentials", basic_challenge=True) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise InvalidClient("malformed Basic credentials", basic_challenge=True)
    return unquote_plus(client_id), unquote_plus(secret)


async def authenticate_client(
    *, tenant_id: TenantId, clients: ClientStore, authorization: str | None, form: Mapping[str, str]
) -> Client:
    """The authenticated client of a back-channel request, or :class:`InvalidClient` / :class:`InvalidRequest`.

    Every failure to authenticate a named client gets the one answer — 401 ``invalid_client``, "client
    authentication failed", the Basic challenge when Basic was used — whether the id is unknown, disabled,
    confidential without its secret, public with a secret, or given a wrong secret; and a presented secret is hashed
    and compared against a stand-in for an unknown client, so the work is the same too. Nothing tells an attacker
    which client ids exist.

    Spec: RFC 6749 §2.3 (one method per request), §3.2.1, §5.2 (401 + WWW-Authenticate for Basic).
    """
    basic = parse_basic(authorization)
    form_secret = form.get("client_secret")
    form_id = form.get("client_id")
    if basic is not None and form_secret is not None:
        raise InvalidRequest("use one client authentication method, not Basic and client_secret together")
    if basic is not None:
        client_id, secret = basic
        if form_id is not None and form_id != client_id:
            raise InvalidRequest("client_id in the body differs from the Basic credentials")
        return await _check_secret(tenant_id, clients, client_id, secret, basic_used=True)
    if form_secret is not None:
        if not form_id:
            raise InvalidRequest("client_id is required with client_secret")
        return await _check_secret(tenant_id, clients, form_id, form_secret, basic_used=False)
    if not form_id:
        raise InvalidClient("client authentication is required (client_id for public clients)")
    client = await clients.get(tenant_id, form_id)
    if client is None or client.disabled or client.client_type != "public":
        raise InvalidClient()  # the same answer whether the id is unknown or a confidential client's
    return client


async def _check_secret(
    tenant_id: TenantId, clients: ClientStore, client_id: str, secret: str, *, basic_used: bool
) -> Client:
    client = await clients.get(tenant_id, client_id)
    stored = client.secret_hash if client is not None and client.secret_hash else _UNKNOWN_CLIENT_HASH
    # Hash and compare even for an unknown client, so timing does not reveal which ids exist.
    matches = constant_time_equals(hash_secret(secret), stored)
    if client is None or client.disabled or client.client_type != "confidential" or not matches:
        raise InvalidClient(basic_challenge=basic_used)
    return client
