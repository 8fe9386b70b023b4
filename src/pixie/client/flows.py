"""The OAuth client protocol without I/O: every step is a *build request* / *process response* pair.

``build`` functions return an :class:`HttpRequest`; ``process`` functions take the :class:`HttpResponse` an edge
received and return a validated value or raise :class:`ServerRefused` / :class:`ProtocolViolation`. :class:`OAuthFlows`
chains the pairs into generators that yield requests and receive responses, so :mod:`pixie.client.sync` and
:mod:`pixie.client.aio` only send and receive: the logic exists once.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Generator, Iterable, Mapping
from dataclasses import replace
from typing import TypeAlias, TypeVar
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from pixie import pkce
from pixie.client import oidc
from pixie.client.discovery import (
    check_url,
    discovery_request,
    process_discovery_response,
)
from pixie.client.dpop import DPoPKey, ProofSender
from pixie.client.errors import ProtocolViolation, ServerRefused, bearer_error
from pixie.client.models import (
    TRANSACTION_LIFETIME,
    AuthorizationStart,
    AuthorizationTransaction,
    ClientAuth,
    HttpRequest,
    HttpResponse,
    ServerMetadata,
    TokenSet,
)
from pixie.client.par import pushed_authorization_url
from pixie.client.token_response import process_token_response
from pixie.security import constant_time_equals

__all__ = [
    "ClientAuth",
    "Flow",
    "OAuthFlows",
    "authorization_code_request",
    "bearer_error",
    "client_credentials_request",
    "process_callback",
    "process_token_response",
    "refresh_request",
    "start_authorization",
]

T = TypeVar("T")
Flow: TypeAlias = Generator[HttpRequest, HttpResponse, T]

_RESERVED_AUTHORIZE_PARAMS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "nonce",
        "max_age",
    }
)
_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


def start_authorization(
    metadata: ServerMetadata,
    client_id: str,
    redirect_uri: str,
    scope: str | None = None,
    *,
    extra_params: Iterable[tuple[str, str]] = (),
    now: float | None = None,
    max_age: int | None = None,
) -> AuthorizationStart:
    """The authorization URL and its transaction: a fresh S256 verifier and a fresh 128-bit ``state`` every time;
    the endpoint's own query is kept. The transaction expires after :data:`TRANSACTION_LIFETIME`. When ``scope``
    holds ``openid`` a fresh ``nonce`` is sent too (and ``max_age`` when given), for the ID token to bring back.

    Spec: RFC 6749 §4.1.1, §3.1 (query retained); RFC 7636 §4.1–§4.3; RFC 9700 §2.1.1; OpenID Connect Core 1.0
    §3.1.2.1 (``nonce``, ``max_age``).
    """
    if metadata.authorization_endpoint is None:
        raise ValueError("the server's metadata has no authorization_endpoint")
    extra = list(extra_params)
    clashing = sorted({name for name, _ in extra} & _RESERVED_AUTHORIZE_PARAMS)
    if clashing:
        raise ValueError(f"extra_params may not set {', '.join(clashing)}")
    verifier = pkce.generate_verifier()
    state = secrets.token_urlsafe(16)  # 128 bits from the OS CSPRNG
    params = [("response_type", "code"), ("client_id", client_id), ("redirect_uri", redirect_uri)]
    if scope:
        params.append(("scope", scope))
    params += [("state", state), ("code_challenge", pkce.create_challenge(verifier)), ("code_challenge_method", "S256")]
    nonce = oidc.new_nonce() if scope and "openid" in scope.split() else None
    if nonce is not None:
        params.append(("nonce", nonce))
    if max_age is not None:
        if max_age < 0:
            raise ValueError("max_age must not be negative")
        params.append(("max_age", str(max_age)))
    parts = urlsplit(metadata.authorization_endpoint)
    query = "&".join(q for q in (parts.query, urlencode(params + extra, quote_via=quote)) if q)
    transaction = AuthorizationTransaction(
        issuer=metadata.issuer,
        client_id=client_id,
        redirect_uri=redirect_uri,
        state=state,
        code_verifier=verifier,
        scope=scope or None,
        expires_at=(time.time() if now is None else now) + TRANSACTION_LIFETIME,
        nonce=nonce,
        max_age=max_age,
    )
    return AuthorizationStart(urlunsplit(parts._replace(query=query, fragment="")), transaction)


def process_callback(
    transaction: AuthorizationTransaction, callback_url: str, metadata: ServerMetadata, *, now: float | None = None
) -> str:
    """Check the authorization response and return its code; the transaction is spent from here on.

    Order matters: ``state`` first (a response that is not ours must not spend the transaction), then single use
    and expiry, then ``iss`` (before trusting anything else, including an ``error``), then ``error``.

    Spec: RFC 6749 §4.1.2, §4.1.2.1, §10.12; RFC 9207 §2.4; RFC 9700 §2.1, §4.4.
    """
    pairs = parse_qsl(urlsplit(callback_url).query, keep_blank_values=True)
    params = dict(pairs)
    if len(params) != len(pairs):
        raise ProtocolViolation("invalid_callback", "a parameter appears twice in the authorization response")
    state = params.get("state")
    if state is None or not constant_time_equals(state, transaction.state):
        raise ProtocolViolation("state_mismatch", "the response's state does not belong to this authorization request")
    if transaction.consumed:
        raise ProtocolViolation("transaction_used", "this authorization transaction was already completed")
    transaction.consumed = True
    if (time.time() if now is None else now) > transaction.expires_at:
        raise ProtocolViolation("transaction_expired", "this authorization transaction has expired; start again")
    iss = params.get("iss")
    if iss is None:
        if metadata.authorization_response_iss_parameter_supported:
            raise ProtocolViolation(
                "missing_iss", "the server advertises RFC 9207 but its authorization response has no iss"
            )
    elif iss != transaction.issuer:
        raise ProtocolViolation("iss_mismatch", f"iss {iss[:200]!r} is not the issuer {transaction.issuer!r}")
    if "error" in params:
        raise ServerRefused(params["error"], params.get("error_description"), error_uri=params.get("error_uri"))
    code = params.get("code")
    if not code:
        raise ProtocolViolation("invalid_callback", "the authorization response has neither code nor error")
    return code


def _token_request(
    metadata: ServerMetadata, client: ClientAuth, form: list[tuple[str, str]], *, endpoint: str | None = None
) -> HttpRequest:
    """A POST to the token endpoint (or ``endpoint``, authenticated the same way: PAR) with client authentication."""
    headers = dict(_FORM_HEADERS)
    method = client.method_for(metadata)
    if method == "client_secret_basic":
        assert client.client_secret is not None
        # RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined and base64-encoded.
        pair = f"{quote_plus(client.client_id, safe='')}:{quote_plus(client.client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    else:
        form = [*form, ("client_id", client.client_id)]
        if method == "client_secret_post":
            assert client.client_secret is not None
            form.append(("client_secret", client.client_secret))
    return HttpRequest("POST", endpoint or metadata.token_endpoint, headers, urlencode(form).encode("ascii"))


def authorization_code_request(
    metadata: ServerMetadata, client: ClientAuth, transaction: AuthorizationTransaction, code: str
) -> HttpRequest:
    """Redeem ``code`` with the transaction's verifier and redirect URI.

    Spec: RFC 6749 §4.1.3, RFC 7636 §4.5.
    """
    form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", transaction.redirect_uri),
        ("code_verifier", transaction.code_verifier),
    ]
    return _token_request(metadata, client, form)


def refresh_request(
    metadata: ServerMetadata, client: ClientAuth, refresh_token: str, scope: str | None = None
) -> HttpRequest:
    """Trade a refresh token for new tokens (optionally a narrower scope).

    Spec: RFC 6749 §6, OAuth 2.1 §4.3.
    """
    form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)]
    if scope:
        form.append(("scope", scope))
    return _token_request(metadata, client, form)


def client_credentials_request(
    metadata: ServerMetadata, client: ClientAuth, scope: str | None = None, extra: Iterable[tuple[str, str]] = ()
) -> HttpRequest:
    """A machine client's own token.

    Spec: RFC 6749 §4.4.2, OAuth 2.1 §4.2.
    """
    if client.client_secret is None:
        raise ValueError("client_credentials needs a confidential client (RFC 6749 §4.4)")
    form = [("grant_type", "client_credentials")]
    if scope:
        form.append(("scope", scope))
    return _token_request(metadata, client, [*form, *extra])


class OAuthFlows:
    """The client's protocol, one generator per operation: each yields :class:`HttpRequest` values and receives
    :class:`HttpResponse` values; its return value is the result. Metadata is fetched once and cached for
    ``metadata_ttl`` seconds. Used by :class:`pixie.client.OAuthClient` and :class:`pixie.client.AsyncOAuthClient`.
    """

    def __init__(
        self,
        issuer: str,
        client: ClientAuth,
        *,
        insecure_allow_http: bool = False,
        metadata_ttl: float = 3600.0,
        dpop: DPoPKey | None = None,
        push: bool = False,
    ) -> None:
        self.issuer = check_url(issuer, "issuer", insecure_allow_http=insecure_allow_http)
        self.client = client
        self.insecure_allow_http = insecure_allow_http
        self.metadata_ttl = metadata_ttl
        self.dpop = dpop
        self.push = push
        self._metadata: tuple[float, ServerMetadata] | None = None
        self._keys = oidc.KeyCache()
        self._proofs = ProofSender()

    def discover(self) -> Flow[ServerMetadata]:
        """The server's validated metadata, from the cache when fresh. Spec: RFC 8414 §3."""
        cached = self._metadata
        if cached is not None and time.monotonic() - cached[0] < self.metadata_ttl:
            return cached[1]
        response = yield discovery_request(self.issuer)
        metadata = process_discovery_response(self.issuer, response, insecure_allow_http=self.insecure_allow_http)
        self._metadata = (time.monotonic(), metadata)
        return metadata

    def start_authorization(
        self,
        redirect_uri: str,
        scope: str | None = None,
        *,
        extra_params: Iterable[tuple[str, str]] = (),
        max_age: int | None = None,
    ) -> Flow[AuthorizationStart]:
        """Spec: RFC 6749 §4.1.1, RFC 7636 §4.3; OpenID Connect Core 1.0 §3.1.2.1 (``openid`` in ``scope``)."""
        metadata = yield from self.discover()
        extra = list(extra_params)
        if self.dpop is not None and not any(name == "dpop_jkt" for name, _ in extra):
            extra.append(("dpop_jkt", self.dpop.thumbprint))  # the code works only with this key (RFC 9449 §10)
        started = start_authorization(
            metadata, self.client.client_id, redirect_uri, scope, extra_params=extra, max_age=max_age
        )
        if not (self.push or metadata.require_pushed_authorization_requests):
            return started
        pushed = yield from self._push(metadata, started.url)
        return started._replace(url=pushed)

    def complete_authorization(self, transaction: AuthorizationTransaction, callback_url: str) -> Flow[TokenSet]:
        """Check the callback, then redeem the code; for an OpenID sign-in, validate the ID token too.
        Spec: RFC 6749 §4.1.2–§4.1.4, RFC 9207 §2.4, RFC 7636 §4.5; OpenID Connect Core 1.0 §3.1.3.5–§3.1.3.7."""
        if transaction.issuer != self.issuer or transaction.client_id != self.client.client_id:
            raise ValueError("this transaction was started by another issuer or client")
        metadata = yield from self.discover()
        code = process_callback(transaction, callback_url, metadata)
        request = authorization_code_request(metadata, self.client, transaction, code)
        response = yield from self._proofs.send(request, self.dpop)
        tokens = process_token_response(response, requested_scope=transaction.scope, dpop_key=self.dpop)
        if transaction.nonce is None:
            return tokens
        checked = yield from oidc.checked_id_token(
            metadata, self.client.client_id, tokens, self._keys, nonce=transaction.nonce, max_age=transaction.max_age
        )
        return checked

    def refresh(self, tokens: TokenSet, scope: str | None = None) -> Flow[TokenSet]:
        """A new ID token that comes with the refresh is validated (same ``sub``); without one the old is kept.
        Spec: RFC 6749 §6; OpenID Connect Core 1.0 §12.2."""
        if tokens.refresh_token is None:
            raise LookupError("these tokens came without a refresh token; sign in again")
        metadata = yield from self.discover()
        # Bound tokens are refreshed with their own key (kept with them), whatever key this client holds now.
        key = DPoPKey.from_jwk(tokens.dpop_key) if tokens.dpop_key is not None else self.dpop
        response = yield from self._proofs.send(
            refresh_request(metadata, self.client, tokens.refresh_token, scope), key
        )
        refreshed = process_token_response(response, previous=tokens, requested_scope=scope, dpop_key=key)
        if "id_token" in refreshed.raw:
            subject = str(tokens.claims["sub"]) if tokens.claims and "sub" in tokens.claims else None
            checked = yield from oidc.checked_id_token(
                metadata, self.client.client_id, refreshed, self._keys, subject=subject
            )
            return checked
        return replace(refreshed, id_token=tokens.id_token, claims=tokens.claims)

    def userinfo(self, tokens: TokenSet) -> Flow[dict[str, object]]:
        """The signed-in user's claims from the userinfo endpoint; ``sub`` must be the ID token's.
        Spec: OpenID Connect Core 1.0 §5.3."""
        metadata = yield from self.discover()
        key = DPoPKey.from_jwk(tokens.dpop_key) if tokens.dpop_key is not None else None
        request = oidc.userinfo_request(metadata, tokens.access_token, "DPoP" if key is not None else "Bearer")
        response = yield from self._proofs.send(request, key, access_token=tokens.access_token)
        subject = str(tokens.claims["sub"]) if tokens.claims and "sub" in tokens.claims else None
        return oidc.process_userinfo_response(response, subject)

    def end_session_url(
        self, tokens: TokenSet | None = None, *, post_logout_redirect_uri: str | None = None, state: str | None = None
    ) -> Flow[str]:
        """Where to send the browser to sign out at the server. Spec: OpenID Connect RP-Initiated Logout 1.0 §2."""
        metadata = yield from self.discover()
        return oidc.end_session_url(
            metadata,
            id_token_hint=tokens.id_token if tokens is not None else None,
            client_id=self.client.client_id,
            post_logout_redirect_uri=post_logout_redirect_uri,
            state=state,
        )

    def client_credentials(self, scope: str | None = None, *, extra: Mapping[str, str] | None = None) -> Flow[TokenSet]:
        """Spec: RFC 6749 §4.4."""
        metadata = yield from self.discover()
        request = client_credentials_request(metadata, self.client, scope, (extra or {}).items())
        response = yield from self._proofs.send(request, self.dpop)
        return process_token_response(response, requested_scope=scope, dpop_key=self.dpop)

    def _push(self, metadata: ServerMetadata, authorization_url: str) -> Flow[str]:
        """Push the authorization request of ``authorization_url`` (with a DPoP proof when this client has a key)
        and return the URL that carries only ``client_id`` and the ``request_uri``. Spec: RFC 9126 §2, §4."""
        endpoint = metadata.pushed_authorization_request_endpoint
        if endpoint is None:
            raise ProtocolViolation("invalid_metadata", "the server has no pushed_authorization_request_endpoint")
        pairs = [(k, v) for k, v in parse_qsl(urlsplit(authorization_url).query) if k != "client_id"]
        request = _token_request(metadata, self.client, pairs, endpoint=endpoint)
        response = yield from self._proofs.send(request, self.dpop)
        return pushed_authorization_url(metadata, self.client.client_id, response)
