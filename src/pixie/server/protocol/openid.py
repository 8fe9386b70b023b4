"""OpenID Connect, the protocol side: session ids, claims by scope, the discovery document and logout requests.

Plain functions over typed values (no HTTP here); the endpoints in :mod:`pixie.server.endpoints.openid` parse and
render around them.

Spec: OpenID Connect Core 1.0, Discovery 1.0, RP-Initiated Logout 1.0.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pixie.errors import InvalidRequest
from pixie.resource.dpop import DEFAULT_ALGORITHMS as DPOP_ALGORITHMS
from pixie.scopes import OPENID_SCOPES
from pixie.server.protocol.metadata import metadata_document
from pixie.storage.records import Client, User
from pixie.tokens.issuer import ID_TOKEN_ALGS
from pixie.tokens.signing import canonical_alg

__all__ = [
    "CLAIMS_BY_SCOPE",
    "LogoutRequest",
    "discovery_document",
    "provider_metadata",
    "session_id",
    "user_claims",
    "validate_logout_request",
]

CLAIMS_BY_SCOPE: dict[str, tuple[str, ...]] = {
    "profile": ("name", "given_name", "family_name", "preferred_username"),
    "email": ("email", "email_verified"),
}
"""The claims each scope releases, of those Pixie holds. Spec: OpenID Connect Core 1.0 §5.4."""


def session_id(session_hash: str) -> str:
    """The ``sid`` of an SSO session: derived one way from the stored hash of its cookie, so an ID token names the
    session without carrying anything that could open it, and logout can find the session again.

    Spec: OpenID Connect Front-Channel Logout 1.0 §3 (``sid``), RP-Initiated Logout 1.0 §2."""
    digest = hashlib.sha256(b"pixie sid v1:" + session_hash.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def user_claims(user: User, scopes: Sequence[str]) -> dict[str, Any]:
    """What userinfo answers for ``scopes``: ``sub`` always, then the claims of ``profile`` and ``email`` the user
    has (a claim without a value is left out, never sent as null).

    Spec: OpenID Connect Core 1.0 §5.3.2, §5.4."""
    claims: dict[str, Any] = {"sub": user.user_id}
    if "profile" in scopes:
        values = {
            "name": user.name,
            "given_name": user.given_name,
            "family_name": user.family_name,
            "preferred_username": user.username,
        }
        claims.update({name: value for name, value in values.items() if value})
    if "email" in scopes and user.email:
        claims["email"] = user.email
        claims["email_verified"] = user.email_verified
    return claims


def discovery_document(oauth_metadata: dict[str, Any], *, signing_alg: str, scopes: Sequence[str]) -> dict[str, Any]:
    """The OpenID Provider metadata: the RFC 8414 document (same issuer, endpoints and capabilities) plus every
    field Discovery 1.0 §3 makes REQUIRED, and the OpenID endpoints.

    Spec: OpenID Connect Discovery 1.0 §3, §4; RFC 8414 §2."""
    issuer = oauth_metadata["issuer"]
    algs = list(dict.fromkeys([canonical_alg(signing_alg), *ID_TOKEN_ALGS]))
    claims = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "sid", "at_hash"]
    for released in CLAIMS_BY_SCOPE.values():
        claims.extend(released)
    return {
        **oauth_metadata,
        "userinfo_endpoint": f"{issuer}/userinfo",
        "end_session_endpoint": f"{issuer}/end_session",
        "scopes_supported": list(dict.fromkeys([*OPENID_SCOPES, *scopes])),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "claims_supported": claims,
        "claim_types_supported": ["normal"],
        "prompt_values_supported": ["none", "login", "consent"],
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "claims_parameter_supported": False,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": False,
        "userinfo_signing_alg_values_supported": [],
    }


def provider_metadata(
    issuer: str,
    grant_types: tuple[str, ...],
    signing_alg: str,
    *,
    dpop_algorithms: Sequence[str] = DPOP_ALGORITHMS,
    require_pushed_requests: bool = False,
) -> dict[str, Any]:
    """The one metadata document Pixie serves at both well-known addresses: RFC 8414's fields and OpenID
    Discovery's (registered AS metadata too, RFC 8414 §7.1.2), so a client reading either finds the same values.

    Spec: RFC 8414 §2, §3; OpenID Connect Discovery 1.0 §3, §4."""
    oauth = metadata_document(issuer, grant_types, dpop_algorithms, require_pushed_requests=require_pushed_requests)
    return discovery_document(oauth, signing_alg=signing_alg, scopes=OPENID_SCOPES)


@dataclass(frozen=True)
class LogoutRequest:
    """A checked RP-Initiated Logout request. ``redirect_uri`` is set only when it is registered for ``client``."""

    client: Client | None
    redirect_uri: str | None
    state: str | None
    hinted_sid: str | None
    hinted_subject: str | None


def validate_logout_request(
    *,
    client: Client | None,
    client_id: str | None,
    hint_claims: dict[str, Any] | None,
    post_logout_redirect_uri: str | None,
    state: str | None,
) -> LogoutRequest:
    """Check an end-session request. ``client`` is the client named by ``client_id`` or by the hint's ``aud``;
    ``hint_claims`` the claims of a valid ``id_token_hint`` issued here (None without one).

    A ``post_logout_redirect_uri`` must exactly equal one the client registered; without a client to check it
    against it is refused (never redirect to a URI nobody registered). Raises :class:`InvalidRequest`.

    Spec: OpenID Connect RP-Initiated Logout 1.0 §2, §3.1.
    """
    if client_id is not None and hint_claims is not None:
        audiences = hint_claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        if client_id not in audiences:
            raise InvalidRequest("client_id does not match the id_token_hint's audience")
    redirect_uri = None
    if post_logout_redirect_uri is not None:
        if client is None:
            raise InvalidRequest("post_logout_redirect_uri needs client_id or id_token_hint")
        if post_logout_redirect_uri not in client.post_logout_redirect_uris:
            raise InvalidRequest("post_logout_redirect_uri is not registered for this client")
        redirect_uri = post_logout_redirect_uri
    if state is not None and len(state) > 2048:
        raise InvalidRequest("state is too long")
    sid = hint_claims.get("sid") if hint_claims else None
    subject = hint_claims.get("sub") if hint_claims else None
    return LogoutRequest(
        client=client,
        redirect_uri=redirect_uri,
        state=state,
        hinted_sid=sid if isinstance(sid, str) else None,
        hinted_subject=subject if isinstance(subject, str) else None,
    )
