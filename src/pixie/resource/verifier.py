"""Verified access tokens, the verifier protocol, and local JWT validation of RFC 9068 access tokens.

A resource server holds a :class:`TokenVerifier`; every request's bearer token goes through
``await verifier.verify(token)``, which returns an :class:`AccessToken` or raises
:class:`pixie.errors.InvalidToken` (and :class:`pixie.errors.TemporarilyUnavailable` when the issuer's keys cannot
be had at all — a 503, so a client does not throw away a token that may be fine).

:class:`JWTVerifier` checks tokens locally: structure and signature by :mod:`pixie.resource.jws` (joserfc) with a
key from the issuer's JWK set (:class:`~pixie.resource.jwks_cache.JWKSCache`), then :func:`access_token_from_claims`,
a plain function over the decoded header and claims. Local checks cannot see a revocation: a revoked token stays
valid here until its ``exp``. Keep access tokens short-lived (Pixie's default is minutes), or use
:class:`~pixie.resource.introspection.IntrospectionVerifier` where a revocation must take effect at once — at the
price of one call to the authorization server per token and cache period.

Spec: RFC 9068 §4, RFC 8725 §3.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from pixie.errors import InvalidToken
from pixie.resource import jws

__all__ = ["AccessToken", "JWTVerifier", "KeySource", "TokenVerifier", "access_token_from_claims", "split_scope"]

ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
REQUIRED_CLAIMS = ("iss", "exp", "aud", "sub", "client_id", "iat", "jti")


@dataclass(frozen=True)
class AccessToken:
    """A verified access token. ``claims`` holds every claim (read-only); the fields are the ones an API needs.

    Spec: RFC 9068 §2.2 (claims), RFC 7662 §2.2 (the same names in an introspection response).
    """

    subject: str | None
    client_id: str
    scopes: frozenset[str]
    issuer: str
    audience: tuple[str, ...]
    expires_at: int
    claims: Mapping[str, object] = field(repr=False, compare=False)

    def has_scopes(self, *needed: str) -> bool:
        """Whether the token carries every scope in ``needed`` (RFC 6749 §3.3: scopes are case-sensitive)."""
        return self.scopes.issuperset(needed)

    @property
    def token_id(self) -> str | None:
        """The ``jti`` claim, if any (RFC 9068 §2.2)."""
        jti = self.claims.get("jti")
        return jti if isinstance(jti, str) else None


class KeySource(Protocol):
    """Where :class:`JWTVerifier` gets verification keys: :class:`~pixie.resource.jwks_cache.JWKSCache`."""

    async def key_for(self, kid: str | None, alg: str) -> jws.VerificationKey: ...

    async def aclose(self) -> None: ...


class TokenVerifier(Protocol):
    """Anything that turns a bearer token into an :class:`AccessToken` or raises
    :class:`pixie.errors.InvalidToken`."""

    async def verify(self, token: str) -> AccessToken: ...


def split_scope(value: object) -> frozenset[str]:
    """The scope tokens of a ``scope`` claim (RFC 6749 §3.3: space-delimited); anything but a string is none."""
    if not isinstance(value, str):
        return frozenset()
    return frozenset(part for part in value.split(" ") if part)


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"the {name} claim is not a NumericDate")
    return float(value)


def _audiences(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(a, str) for a in value):
        return tuple(value)
    raise InvalidToken("the aud claim is malformed")


def access_token_from_claims(
    header: Mapping[str, Any],
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audience: str | Sequence[str],
    now: float,
    leeway: int,
) -> AccessToken:
    """Apply RFC 9068's claim rules to a token whose signature has already been checked.

    ``typ`` is ``at+jwt`` (or ``application/at+jwt``, case-insensitive); every RFC 9068 §2.2 claim is present;
    ``iss`` equals ``issuer`` exactly; ``aud`` contains ``audience`` (one of them, given several); ``exp`` is
    after, ``nbf`` and ``iat`` not after, ``now`` — each give or take ``leeway`` seconds of clock skew.

    Spec: RFC 9068 §4 (steps 2–7), §2.1 (``typ``), §2.2 (required claims); RFC 7519 §4.1.4–4.1.6.
    """
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
        raise InvalidToken("the token is not a JWT access token (typ must be at+jwt)")
    missing = [name for name in REQUIRED_CLAIMS if name not in claims]
    if missing:
        raise InvalidToken(f"the token lacks required claims: {', '.join(missing)}")
    if claims["iss"] != issuer:
        raise InvalidToken("the token was issued by another issuer")
    audiences = _audiences(claims["aud"])
    wanted = (audience,) if isinstance(audience, str) else audience
    if not any(each in audiences for each in wanted):
        raise InvalidToken("the token is meant for another audience")
    expires_at = _number(claims, "exp")
    issued_at = _number(claims, "iat")
    not_before = _number(claims, "nbf")
    assert expires_at is not None and issued_at is not None  # required above
    if now >= expires_at + leeway:
        raise InvalidToken("the token has expired")
    if not_before is not None and now + leeway < not_before:
        raise InvalidToken("the token is not valid yet")
    if now + leeway < issued_at:
        raise InvalidToken("the token was issued in the future")
    subject, client_id = claims["sub"], claims["client_id"]
    if not isinstance(subject, str) or not isinstance(client_id, str) or not isinstance(claims["jti"], str):
        raise InvalidToken("the sub, client_id and jti claims must be strings")
    if "scope" in claims and not isinstance(claims["scope"], str):
        raise InvalidToken("the scope claim must be a string")
    return AccessToken(
        subject=subject,
        client_id=client_id,
        scopes=split_scope(claims.get("scope")),
        issuer=issuer,
        audience=audiences,
        expires_at=int(expires_at),
        claims=MappingProxyType(dict(claims)),
    )


class JWTVerifier:
    """Local validation of RFC 9068 JWT access tokens from one issuer for one audience (or a resource server known
    by several names, such as a URN and its RFC 8707 URL: any one of ``audience``).

        ``jwks`` defaults to ``JWKSCache.discover(issuer)``: ``jwks_uri`` comes from the issuer's RFC 8414 metadata
        (with the exact ``issuer`` check). Pass ``jwks=JWKSCache.discover(issuer, http=client)`` to share an HTTP
        client. ``algorithms`` is an allow-list; ``none`` and HMAC algorithms raise
        ``ValueError`` here even if configured.

        Spec: RFC 9068 §4, RFC 8725 §3.1.
    """

    def __init__(
        self,
        issuer: str,
        audience: str | Sequence[str],
        *,
        jwks: KeySource | None = None,
        algorithms: Sequence[str] = ("ES256", "RS256", "EdDSA"),
        leeway: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not issuer or not audience:
            raise ValueError("issuer and audience are required")
        if leeway < 0 or leeway > 300:
            raise ValueError("leeway must be between 0 and 300 seconds")
        self.issuer = issuer
        self.audience: str | tuple[str, ...] = audience if isinstance(audience, str) else tuple(audience)
        self._jws = jws.CompactVerifier(algorithms)
        self.algorithms = self._jws.algorithms
        self.leeway = leeway
        if jwks is None:
            # Imported here, not at the top: this protocol module stays free of HTTP (ARCHITECTURE §2).
            from pixie.resource.jwks_cache import JWKSCache

            jwks = JWKSCache.discover(issuer)
        self.jwks = jwks
        self._clock = clock

    async def verify(self, token: str) -> AccessToken:
        """The verified token, or :class:`InvalidToken` saying which check failed (never echoing the token).

        Spec: RFC 9068 §4.
        """
        try:
            compact = self._jws.parse(token)
        except jws.JWSError as exc:
            raise InvalidToken(f"the token is malformed: {exc}") from None
        # typ before the key lookup: an ID token or a foreign JWT must not cost a JWKS refresh.
        typ = compact.header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
            raise InvalidToken("the token is not a JWT access token (typ must be at+jwt)")
        key = await self.jwks.key_for(compact.kid, compact.alg)
        try:
            claims = self._jws.verify(compact, key)
        except jws.JWSError as exc:
            raise InvalidToken(f"the token signature is invalid: {exc}") from None
        return access_token_from_claims(
            compact.header, claims, issuer=self.issuer, audience=self.audience, now=self._clock(), leeway=self.leeway
        )

    async def aclose(self) -> None:
        """Close the JWKS cache's own HTTP client (not one passed in)."""
        await self.jwks.aclose()
