"""Token introspection (RFC 7662) for opaque tokens, or wherever a revocation must take effect at once.

Each token is sent to the authorization server's introspection endpoint, authenticated as the resource server
(``client_secret_basic``). Only an answer with ``active: true`` counts; then ``iss`` (if configured), ``aud`` (if
configured), ``exp``/``nbf`` and ``token_type`` are checked as for a JWT. A refresh token presented as a bearer
token is refused (its ``token_type`` says so). Positive answers are cached for ``cache_seconds`` (never past the
token's ``exp``), keyed by the SHA-256 of the token so the cache holds no usable token; negative answers are not
cached at all, so a token that becomes valid, or a transient failure, is not remembered. A revocation is therefore
seen within ``cache_seconds``.

Failures of the authorization server itself are not the token's fault: an unreachable endpoint or a 5xx becomes
:class:`pixie.errors.TemporarilyUnavailable` (503); a refusal of our own credentials becomes
:class:`pixie.errors.ServerError` (500, logged) — a misconfiguration to fix, not a reason to make clients sign in
again.

Spec: RFC 7662 §2.1–2.2, §4; RFC 6749 §2.3.1.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import httpx

from pixie.errors import InvalidToken, ServerError, TemporarilyUnavailable
from pixie.resource.verifier import AccessToken, split_scope

__all__ = ["IntrospectionVerifier", "access_token_from_introspection"]

log = logging.getLogger(__name__)

MAX_TOKEN_LENGTH = 16 * 1024
BEARER_TYPES = ("bearer", "access_token")


def _basic(client_id: str, client_secret: str) -> str:
    # RFC 6749 §2.3.1: form-urlencode both parts before base64, so ':' in an id or secret survives.
    raw = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def access_token_from_introspection(
    body: Mapping[str, Any], *, issuer: str | None, audience: str | None, now: float, leeway: int
) -> AccessToken:
    """The verified token an RFC 7662 response describes, or :class:`InvalidToken`.

    Spec: RFC 7662 §2.2, §4 (check ``active`` and the token's audience).
    """
    if body.get("active") is not True:
        raise InvalidToken("the token is not active")
    token_type = body.get("token_type")
    if token_type is not None and (not isinstance(token_type, str) or token_type.lower() not in BEARER_TYPES):
        raise InvalidToken("the token is not an access token")
    client_id, subject, iss = body.get("client_id"), body.get("sub"), body.get("iss")
    if not isinstance(client_id, str) or not (subject is None or isinstance(subject, str)):
        raise InvalidToken("the introspection response lacks a client_id")
    if issuer is not None and iss != issuer:
        raise InvalidToken("the token was issued by another issuer")
    aud = body.get("aud")
    audiences: tuple[str, ...] = (
        (aud,) if isinstance(aud, str) else tuple(a for a in aud if isinstance(a, str)) if isinstance(aud, list) else ()
    )
    if audience is not None and audience not in audiences:
        raise InvalidToken("the token is meant for another audience")
    exp, nbf = body.get("exp"), body.get("nbf")
    if isinstance(exp, int | float) and not isinstance(exp, bool) and now >= exp + leeway:
        raise InvalidToken("the token has expired")
    if isinstance(nbf, int | float) and not isinstance(nbf, bool) and now + leeway < nbf:
        raise InvalidToken("the token is not valid yet")
    return AccessToken(
        subject=subject,
        client_id=client_id,
        scopes=split_scope(body.get("scope")),
        issuer=iss if isinstance(iss, str) else (issuer or ""),
        audience=audiences,
        expires_at=int(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else 0,
        claims=MappingProxyType(dict(body)),
    )


class IntrospectionVerifier:
    """A :class:`~pixie.resource.verifier.TokenVerifier` that asks the authorization server (RFC 7662).

    ``audience``: the identifier this API expects in ``aud`` (None skips the check — only sensible when the
    authorization server issues tokens for this API alone). ``http`` is borrowed, never closed here.

    Spec: RFC 7662 §2, §4.
    """

    def __init__(
        self,
        introspection_endpoint: str,
        client_id: str,
        client_secret: str,
        *,
        audience: str | None,
        cache_seconds: float = 30,
        issuer: str | None = None,
        leeway: int = 30,
        max_cache_entries: int = 10_000,
        http: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if cache_seconds < 0 or max_cache_entries < 1:
            raise ValueError("cache_seconds must be >= 0 and max_cache_entries >= 1")
        self.endpoint = introspection_endpoint
        self.audience = audience
        self.issuer = issuer
        self.cache_seconds = cache_seconds
        self.leeway = leeway
        self.calls = 0
        """Introspection requests sent so far (observable in tests and metrics)."""
        self._authorization = _basic(client_id, client_secret)
        self._max_entries = max_cache_entries
        self._cache: OrderedDict[bytes, tuple[float, AccessToken]] = OrderedDict()
        self._http = http
        self._own_http: httpx.AsyncClient | None = None
        self._timeout = timeout
        self._clock = clock

    async def verify(self, token: str) -> AccessToken:
        """Spec: RFC 7662 §2.1 (request), §2.2 (response), §4 (caching trade-off)."""
        if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
            raise InvalidToken("the token is malformed")
        now = self._clock()
        digest = hashlib.sha256(token.encode("ascii")).digest()
        cached = self._cache.get(digest)
        if cached is not None:
            until, verified = cached
            if now < until:
                return verified
            del self._cache[digest]
        body = await self._introspect(token)
        verified = access_token_from_introspection(
            body, issuer=self.issuer, audience=self.audience, now=now, leeway=self.leeway
        )
        until = now + self.cache_seconds
        if verified.expires_at:
            until = min(until, verified.expires_at)
        if until > now:
            self._cache[digest] = (until, verified)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)  # oldest first: a bounded cache, whatever the traffic
        return verified

    async def _introspect(self, token: str) -> Mapping[str, Any]:
        self.calls += 1
        http = self._http or self._client()
        try:
            response = await http.post(
                self.endpoint,
                data={"token": token, "token_type_hint": "access_token"},
                headers={"Authorization": self._authorization, "Accept": "application/json"},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            log.warning("introspection request failed: %s", type(exc).__name__)
            raise TemporarilyUnavailable("the token cannot be checked right now; try again later") from None
        if response.status_code in (400, 401, 403):
            log.error("the introspection endpoint refused this resource server (%s)", response.status_code)
            raise ServerError()
        if response.status_code != 200:
            log.warning("the introspection endpoint answered %s", response.status_code)
            raise TemporarilyUnavailable("the token cannot be checked right now; try again later")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            log.warning("the introspection endpoint answered something other than a JSON object")
            raise TemporarilyUnavailable("the token cannot be checked right now; try again later")
        return body

    def _client(self) -> httpx.AsyncClient:
        if self._own_http is None:
            self._own_http = httpx.AsyncClient(follow_redirects=False, timeout=self._timeout)
        return self._own_http

    async def aclose(self) -> None:
        """Close the verifier's own HTTP client (not one passed in)."""
        if self._own_http is not None:
            await self._own_http.aclose()
            self._own_http = None
