"""The blocking client: sends what :class:`pixie.client.flows.OAuthFlows` asks for over an ``httpx.Client``.

Nothing here decides anything about the protocol; see :mod:`pixie.client.flows`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

import httpx

from pixie.client.dpop import DPoPKey
from pixie.client.flows import ClientAuth, Flow, OAuthFlows
from pixie.client.models import (
    AuthMethod,
    AuthorizationStart,
    AuthorizationTransaction,
    HttpRequest,
    HttpResponse,
    ServerMetadata,
    TokenSet,
)
from pixie.client.tokens import TokenManager, TokenStore

__all__ = ["OAuthClient", "send"]

T = TypeVar("T")


def send(http: httpx.Client, request: HttpRequest) -> HttpResponse:
    """One request, body read, redirects not followed (RFC 6749 §3.2: the token endpoint is called directly)."""
    response = http.request(request.method, request.url, headers=dict(request.headers), content=request.body)
    return HttpResponse(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)


class OAuthClient:
    """An OAuth 2.1 client of one authorization server, for blocking code.

    ``OAuthClient(issuer, client_id)`` is a public client (native app, CLI); pass ``client_secret`` for a
    confidential one. ``http`` lets you bring your own ``httpx.Client`` (proxies, CA bundle, event hooks); otherwise
    the client owns one and :meth:`close` closes it.

    ``dpop=True`` (or a :class:`~pixie.client.dpop.DPoPKey`) asks for DPoP-bound tokens: each token request carries
    a proof of the key, the code is bound to it (``dpop_jkt``), the returned :class:`TokenSet` keeps the key, and
    :class:`~pixie.client.auth.BearerAuth` sends proofs with it (RFC 9449). ``push=True`` pushes every authorization
    request first (RFC 9126); a server that requires pushes gets them anyway.
    """

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str | None = None,
        *,
        auth_method: AuthMethod | None = None,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        insecure_allow_http: bool = False,
        dpop: DPoPKey | bool = False,
        push: bool = False,
    ) -> None:
        auth = ClientAuth(client_id, client_secret, auth_method)
        key = DPoPKey.generate() if dpop is True else dpop or None
        self.flows = OAuthFlows(issuer, auth, insecure_allow_http=insecure_allow_http, dpop=key, push=push)
        self._http = http if http is not None else httpx.Client(timeout=timeout)
        self._owns_http = http is None

    @property
    def issuer(self) -> str:
        return self.flows.issuer

    def _run(self, flow: Flow[T]) -> T:
        try:
            request = next(flow)
            while True:
                request = flow.send(send(self._http, request))
        except StopIteration as done:
            result: T = done.value
            return result

    def metadata(self) -> ServerMetadata:
        """Spec: RFC 8414 §3."""
        return self._run(self.flows.discover())

    def start_authorization(
        self,
        redirect_uri: str,
        scope: str | None = None,
        *,
        extra_params: Iterable[tuple[str, str]] = (),
        max_age: int | None = None,
    ) -> AuthorizationStart:
        """The URL to send the user to, and the transaction to keep. With ``openid`` in ``scope`` a nonce is sent and
        the ID token checked at completion (``max_age``: how old a sign-in may be). Spec: RFC 6749 §4.1.1, RFC 7636
        §4.3, OpenID Connect Core 1.0 §3.1.2.1."""
        return self._run(
            self.flows.start_authorization(redirect_uri, scope, extra_params=extra_params, max_age=max_age)
        )

    def complete_authorization(self, transaction: AuthorizationTransaction, callback_url: str) -> TokenSet:
        """Check the callback and redeem its code. Spec: RFC 6749 §4.1.2–§4.1.4, RFC 9207 §2.4."""
        return self._run(self.flows.complete_authorization(transaction, callback_url))

    def refresh(self, tokens: TokenSet, scope: str | None = None) -> TokenSet:
        """Spec: RFC 6749 §6."""
        return self._run(self.flows.refresh(tokens, scope))

    def userinfo(self, tokens: TokenSet) -> dict[str, object]:
        """The signed-in user's claims (``sub`` checked against the ID token). Spec: OpenID Connect Core 1.0 §5.3."""
        return self._run(self.flows.userinfo(tokens))

    def end_session_url(
        self, tokens: TokenSet | None = None, *, post_logout_redirect_uri: str | None = None, state: str | None = None
    ) -> str:
        """The server's logout URL for these tokens' session. Spec: OpenID Connect RP-Initiated Logout 1.0 §2."""
        return self._run(
            self.flows.end_session_url(tokens, post_logout_redirect_uri=post_logout_redirect_uri, state=state)
        )

    def client_credentials(self, scope: str | None = None, *, extra: Mapping[str, str] | None = None) -> TokenSet:
        """Spec: RFC 6749 §4.4."""
        return self._run(self.flows.client_credentials(scope, extra=extra))

    def token_manager(
        self, tokens: TokenSet | None = None, *, store: TokenStore | None = None, refresh_margin: float = 60.0
    ) -> TokenManager:
        """A :class:`TokenManager` that refreshes through this client (``tokens`` seeds the store)."""

        def refresher(current: TokenSet | None) -> TokenSet:
            if current is None:
                raise LookupError("no tokens stored; sign in first")
            return self.refresh(current)

        return TokenManager(refresher, store=store, tokens=tokens, refresh_margin=refresh_margin)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> OAuthClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
