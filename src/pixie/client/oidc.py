"""OpenID Connect for the client, without I/O: the ``nonce``, ID token validation and the userinfo and logout
requests. :class:`pixie.client.flows.OAuthFlows` calls these; the edges only send and receive.

Spec: OpenID Connect Core 1.0 §3.1.2.1, §3.1.3.7, §5.3, §12.2; RP-Initiated Logout 1.0 §2.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from pixie.client.discovery import json_object
from pixie.client.errors import ProtocolViolation, ServerRefused, bearer_error
from pixie.client.models import HttpRequest, HttpResponse, ServerMetadata, TokenSet
from pixie.resource import jws
from pixie.security import constant_time_equals

__all__ = [
    "CLOCK_LEEWAY",
    "KeyCache",
    "checked_id_token",
    "end_session_url",
    "id_token_algorithms",
    "jwks_request",
    "knows_key",
    "new_nonce",
    "process_jwks_response",
    "process_userinfo_response",
    "userinfo_request",
    "validate_id_token",
]

CLOCK_LEEWAY = 60.0
"""Seconds of clock difference allowed when checking ``exp``, ``iat`` and ``auth_time``."""

_SIGNING_ALGORITHMS = ("ES256", "RS256", "PS256", "Ed25519", "EdDSA", "ES384", "RS384", "ES512", "RS512")


def new_nonce() -> str:
    """128 random bits for ``nonce``: the ID token must bring it back, binding it to this sign-in.

    Spec: OpenID Connect Core 1.0 §3.1.2.1, §15.5.2."""
    return secrets.token_urlsafe(16)


def id_token_algorithms(metadata: ServerMetadata) -> tuple[str, ...]:
    """The algorithms accepted for ID tokens: those the server advertises that we verify (RS256 when it says
    nothing, Core §15.1's default). Never ``none``, never HMAC."""
    advertised = metadata.raw.get("id_token_signing_alg_values_supported")
    if not isinstance(advertised, list):
        return ("RS256",)
    return tuple(alg for alg in advertised if alg in _SIGNING_ALGORITHMS)


def _left_half_hash(value: str, alg: str) -> str:
    digest = (hashlib.sha512 if alg in ("Ed25519", "EdDSA") else _HASHES.get(alg[-3:], hashlib.sha256))(
        value.encode("ascii")
    ).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def validate_id_token(
    id_token: str,
    jwks: Mapping[str, Any],
    *,
    metadata: ServerMetadata,
    client_id: str,
    now: float,
    nonce: str | None = None,
    max_age: int | None = None,
    access_token: str | None = None,
    subject: str | None = None,
) -> dict[str, Any]:
    """Validate an ID token and return its claims, or raise :class:`ProtocolViolation` (``invalid_id_token``).

    Checks, in Core §3.1.3.7's order: the signature by a key of the server's JWKS with an advertised algorithm;
    ``iss`` is the issuer; ``aud`` contains ``client_id`` (and ``azp`` is ``client_id`` when there are several
    audiences); ``exp`` is in the future and ``iat`` is not; ``nonce`` equals the one sent (when one was sent; none
    may come back otherwise); ``auth_time`` is present and recent enough when ``max_age`` was asked; ``at_hash``
    matches the access token when present; ``sub`` equals the earlier ID token's on refresh (Core §12.2).

    Spec: OpenID Connect Core 1.0 §2, §3.1.3.7, §3.2.2.9 (``at_hash``), §12.2.
    """

    def bad(message: str) -> ProtocolViolation:
        return ProtocolViolation("invalid_id_token", message)

    try:
        verified = jws.verify_jwt(id_token, jwks, id_token_algorithms(metadata))
    except jws.JWSError as exc:
        raise bad(f"the ID token's signature does not verify: {exc}") from None
    claims = verified.claims
    if claims.get("iss") != metadata.issuer:
        raise bad(f"iss {str(claims.get('iss'))[:200]!r} is not the issuer {metadata.issuer!r}")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or client_id not in audiences:
        raise bad("the ID token is not meant for this client (aud)")
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
        raise bad("the ID token's azp is not this client")
    sub, exp, iat = claims.get("sub"), claims.get("exp"), claims.get("iat")
    if not isinstance(sub, str) or not sub:
        raise bad("the ID token has no sub")
    if not isinstance(exp, int | float) or exp + CLOCK_LEEWAY <= now:
        raise bad("the ID token has expired")
    if not isinstance(iat, int | float) or iat > now + CLOCK_LEEWAY:
        raise bad("the ID token's iat is missing or in the future")
    sent = claims.get("nonce")
    if nonce is not None:
        if not isinstance(sent, str) or not constant_time_equals(sent, nonce):
            raise bad("the ID token's nonce is not the one this sign-in sent")
    elif sent is not None and subject is None:
        raise bad("the ID token carries a nonce although none was sent")
    if max_age is not None:
        auth_time = claims.get("auth_time")
        if not isinstance(auth_time, int | float) or isinstance(auth_time, bool):
            raise bad("max_age was requested but the ID token has no auth_time")
        if now - auth_time > max_age + CLOCK_LEEWAY:
            raise bad("the sign-in is older than max_age allows")
    at_hash = claims.get("at_hash")
    if at_hash is not None and access_token is not None:
        expected = _left_half_hash(access_token, str(verified.header.get("alg", "")))
        if not isinstance(at_hash, str) or not constant_time_equals(at_hash, expected):
            raise bad("the ID token's at_hash does not match the access token")
    if subject is not None and sub != subject:
        raise bad("a refreshed ID token names another subject")
    return dict(claims)


def knows_key(id_token: str, jwks: Mapping[str, Any]) -> bool:
    """Whether ``jwks`` holds a key with the ``kid`` the token's header names (a token without ``kid`` counts as
    known): when not, the set is stale (the server rotated) and is fetched again. Spec: OIDC Core §10.1.1."""
    header_segment = id_token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(header_segment + "=" * (-len(header_segment) % 4)))
    except (ValueError, UnicodeDecodeError):
        return True  # malformed: let validation say so
    kid = header.get("kid") if isinstance(header, dict) else None
    keys = jwks.get("keys")
    if kid is None or not isinstance(keys, list):
        return True
    return any(isinstance(key, dict) and key.get("kid") == kid for key in keys)


def jwks_request(metadata: ServerMetadata) -> HttpRequest:
    """``GET`` the server's JWK set. Spec: RFC 7517 §5, RFC 8414 §2 (``jwks_uri``)."""
    if metadata.jwks_uri is None:
        raise ProtocolViolation("invalid_metadata", "the server's metadata has no jwks_uri to check ID tokens with")
    return HttpRequest("GET", metadata.jwks_uri, {"Accept": "application/json"})


def process_jwks_response(response: HttpResponse) -> dict[str, Any]:
    if response.status != 200:
        raise ProtocolViolation("unexpected_status", f"the JWKS answered HTTP {response.status}", response=response)
    document = json_object(response, "JWK set")
    if not isinstance(document.get("keys"), list):
        raise ProtocolViolation("invalid_metadata", "the JWK set has no keys array", response=response)
    return document


def userinfo_request(metadata: ServerMetadata, access_token: str, scheme: str = "Bearer") -> HttpRequest:
    """``GET`` userinfo with the access token as a Bearer token (or under the ``DPoP`` scheme, the proof added by
    the caller). Spec: OpenID Connect Core 1.0 §5.3.1; RFC 9449 §7.1."""
    endpoint = metadata.userinfo_endpoint
    if endpoint is None:
        raise ProtocolViolation("invalid_metadata", "the server's metadata has no userinfo_endpoint")
    return HttpRequest("GET", endpoint, {"Authorization": f"{scheme} {access_token}", "Accept": "application/json"})


def process_userinfo_response(response: HttpResponse, subject: str | None) -> dict[str, Any]:
    """The claims, after checking that ``sub`` is the ID token's (Core §5.3.2: a mismatch MUST NOT be used). A 401
    or 403 is the server refusing (its ``WWW-Authenticate`` error).

    Spec: OpenID Connect Core 1.0 §5.3.2, §5.3.3; RFC 6750 §3."""
    if response.status != 200:
        error = bearer_error(response.headers.get("www-authenticate")) or "invalid_request"
        raise ServerRefused(error, None, status=response.status, response=response)
    claims = json_object(response, "userinfo response")
    sub = claims.get("sub")
    if not isinstance(sub, str) or (subject is not None and sub != subject):
        raise ProtocolViolation("invalid_userinfo", "the userinfo sub is not the signed-in user's", response=response)
    return claims


def end_session_url(
    metadata: ServerMetadata,
    *,
    id_token_hint: str | None = None,
    client_id: str | None = None,
    post_logout_redirect_uri: str | None = None,
    state: str | None = None,
) -> str:
    """Where to send the browser to sign out at the server (and come back to ``post_logout_redirect_uri``, which the
    client must have registered).

    Spec: OpenID Connect RP-Initiated Logout 1.0 §2, §3."""
    endpoint = metadata.end_session_endpoint
    if endpoint is None:
        raise ValueError("the server's metadata has no end_session_endpoint")
    params: Sequence[tuple[str, str | None]] = (
        ("id_token_hint", id_token_hint),
        ("client_id", client_id),
        ("post_logout_redirect_uri", post_logout_redirect_uri),
        ("state", state),
    )
    parts = urlsplit(endpoint)
    encoded = urlencode([(k, v) for k, v in params if v is not None], quote_via=quote)
    query = "&".join(q for q in (parts.query, encoded) if q)
    return urlunsplit(parts._replace(query=query, fragment=""))


class KeyCache:
    """The server's JWK set as last fetched (one per :class:`~pixie.client.flows.OAuthFlows`)."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] | None = None


def checked_id_token(
    metadata: ServerMetadata,
    client_id: str,
    tokens: TokenSet,
    keys: KeyCache,
    *,
    nonce: str | None = None,
    max_age: int | None = None,
    subject: str | None = None,
) -> Generator[HttpRequest, HttpResponse, TokenSet]:
    """``tokens`` with their ID token validated (:func:`validate_id_token`) and its claims set. The JWK set is
    fetched when none is cached or the token names a key the cached set lacks (the server rotated).

    Spec: OpenID Connect Core 1.0 §3.1.3.7, §10.1.1 (rotation: fetch the set again for an unknown ``kid``)."""
    id_token = tokens.raw.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise ProtocolViolation("invalid_id_token", "an OpenID sign-in answered without an ID token")
    if keys.jwks is None or not knows_key(id_token, keys.jwks):
        keys.jwks = process_jwks_response((yield jwks_request(metadata)))
    claims = validate_id_token(
        id_token,
        keys.jwks,
        metadata=metadata,
        client_id=client_id,
        now=time.time(),
        nonce=nonce,
        max_age=max_age,
        access_token=tokens.access_token,
        subject=subject,
    )
    return replace(tokens, id_token=id_token, claims=claims)
