"""Pixie's OAuth 2.1 client: discovery, PKCE authorization, token refresh, httpx auth and native-app sign-in.

It talks to any standards-compliant authorization server (RFC 8414 metadata, RFC 7636 PKCE, RFC 9207 ``iss``).
The protocol lives once, without I/O, in :mod:`pixie.client.flows`; :class:`OAuthClient` and
:class:`AsyncOAuthClient` only send and receive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixie.lazy import lazy_exports as _lazy_exports

__all__ = [
    "AsyncOAuthClient",
    "AsyncTokenManager",
    "AuthorizationStart",
    "AuthorizationTransaction",
    "BearerAuth",
    "ClientAuth",
    "ClientCredentialsAuth",
    "FileTokenStore",
    "HttpRequest",
    "HttpResponse",
    "MemoryTokenStore",
    "OAuthClient",
    "OAuthFlows",
    "PROTOCOL_VIOLATION_CODES",
    "ProtocolViolation",
    "ServerMetadata",
    "ServerRefused",
    "TRANSACTION_LIFETIME",
    "TokenManager",
    "TokenSet",
    "TokenStore",
    "login_with_browser",
]

if TYPE_CHECKING:
    from pixie.client.aio import AsyncOAuthClient
    from pixie.client.auth import BearerAuth, ClientCredentialsAuth
    from pixie.client.errors import PROTOCOL_VIOLATION_CODES, ProtocolViolation, ServerRefused
    from pixie.client.flows import ClientAuth, OAuthFlows
    from pixie.client.loopback import login_with_browser
    from pixie.client.models import (
        TRANSACTION_LIFETIME,
        AuthorizationStart,
        AuthorizationTransaction,
        HttpRequest,
        HttpResponse,
        ServerMetadata,
        TokenSet,
    )
    from pixie.client.sync import OAuthClient
    from pixie.client.tokens import AsyncTokenManager, FileTokenStore, MemoryTokenStore, TokenManager, TokenStore
else:
    # Each name is imported from its module on first use (PEP 562), so that importing one module of this package (say
    # the sans-I/O protocol) never loads the others' dependencies. Type checkers read the imports above instead, and
    # so still reject a name this package does not export.
    _SOURCES = {
        "AsyncOAuthClient": "pixie.client.aio",
        "AsyncTokenManager": "pixie.client.tokens",
        "AuthorizationStart": "pixie.client.models",
        "AuthorizationTransaction": "pixie.client.models",
        "BearerAuth": "pixie.client.auth",
        "ClientAuth": "pixie.client.flows",
        "ClientCredentialsAuth": "pixie.client.auth",
        "FileTokenStore": "pixie.client.tokens",
        "HttpRequest": "pixie.client.models",
        "HttpResponse": "pixie.client.models",
        "MemoryTokenStore": "pixie.client.tokens",
        "OAuthClient": "pixie.client.sync",
        "OAuthFlows": "pixie.client.flows",
        "PROTOCOL_VIOLATION_CODES": "pixie.client.errors",
        "ProtocolViolation": "pixie.client.errors",
        "ServerMetadata": "pixie.client.models",
        "ServerRefused": "pixie.client.errors",
        "TRANSACTION_LIFETIME": "pixie.client.models",
        "TokenManager": "pixie.client.tokens",
        "TokenSet": "pixie.client.models",
        "TokenStore": "pixie.client.tokens",
        "login_with_browser": "pixie.client.loopback",
    }

    __getattr__, __dir__ = _lazy_exports(__name__, _SOURCES, globals(), __all__)
