"""Pixie's OAuth 2.1 client: discovery, PKCE authorization, token refresh, httpx auth and native-app sign-in.

It talks to any standards-compliant authorization server (RFC 8414 metadata, RFC 7636 PKCE, RFC 9207 ``iss``).
The protocol lives once, without I/O, in :mod:`pixie.client.flows`; :class:`OAuthClient` and
:class:`AsyncOAuthClient` only send and receive.
"""

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
