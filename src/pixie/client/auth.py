"""Bearer tokens as an ``httpx.Auth``: attach the token; on ``401 invalid_token`` refresh once and retry. DPoP-bound
tokens go under the ``DPoP`` scheme with a proof of their key for each request, and a resource server's
``use_dpop_nonce`` is answered once with its nonce.

The protocol of one request is written once, as the generator :meth:`BearerAuth._flow`. It yields either a request
to send or a :class:`_NeedToken` instruction; two small drivers run it, ``sync_auth_flow`` for ``httpx.Client`` and
``async_auth_flow`` for ``httpx.AsyncClient``, and differ only in how they ask the token manager (which holds the
single-flight lock: a threading lock or an anyio lock).

Spec: RFC 6750 §2.1 (Authorization header), §3.1 (``invalid_token``); RFC 6749 §6 (refresh), §4.4 (client
credentials); RFC 9449 §7, §9 (DPoP at resource servers).
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass

import anyio.to_thread
import httpx

from pixie.client.aio import AsyncOAuthClient
from pixie.client.dpop import DPoPKey, ProofSender, asks_for_nonce
from pixie.client.flows import bearer_error
from pixie.client.models import HttpResponse, TokenSet
from pixie.client.sync import OAuthClient
from pixie.client.tokens import AsyncTokenManager, TokenManager, TokenStore
from pixie.security import constant_time_equals

__all__ = ["BearerAuth", "ClientCredentialsAuth"]


@dataclass(frozen=True)
class _NeedToken:
    """The flow asks its driver for a token: a valid one (``rejected`` None), or a replacement for ``rejected``."""

    rejected: str | None = None


_Step = httpx.Request | _NeedToken
_Reply = httpx.Response | str


class BearerAuth(httpx.Auth):
    """Authenticate requests with the access token of ``manager``.

    A :class:`TokenManager` serves both ``httpx.Client`` and ``httpx.AsyncClient`` (under async, a refresh runs in a
    worker thread); an :class:`AsyncTokenManager` serves ``httpx.AsyncClient`` only. A ``401`` whose challenge says
    ``invalid_token`` (revoked, or expired earlier than the client expected) triggers one refresh and one retry; any
    other status, or a second 401, is returned to the caller as is.
    """

    requires_request_body = True  # the retry must be able to send the body again

    def __init__(self, manager: TokenManager | AsyncTokenManager) -> None:
        self.manager = manager
        self._proofs = ProofSender()
        self._keys: dict[str, DPoPKey] = {}

    def _authorize(self, request: httpx.Request, token: str) -> bool:
        """Put ``token`` on the request: as a Bearer token, or, when the manager's tokens are DPoP-bound, under the
        ``DPoP`` scheme with a fresh proof of their key for this request (RFC 9449 §7.1). True for DPoP."""
        tokens = self.manager.tokens
        jwk = tokens.dpop_key if tokens is not None and constant_time_equals(tokens.access_token, token) else None
        if jwk is None:
            request.headers["Authorization"] = f"Bearer {token}"
            request.headers.pop("DPoP", None)
            return False
        name = json.dumps(dict(jwk), sort_keys=True)
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = DPoPKey.from_jwk(jwk)
        url = str(request.url)
        request.headers["Authorization"] = f"DPoP {token}"
        request.headers["DPoP"] = key.proof(request.method, url, access_token=token, nonce=self._proofs.nonce_for(url))
        return True

    def _flow(self, request: httpx.Request) -> Generator[_Step, _Reply, None]:
        token = yield _NeedToken()
        assert isinstance(token, str)
        dpop = self._authorize(request, token)
        response = yield request
        assert isinstance(response, httpx.Response)
        if dpop and self._proofs.note(str(request.url), response.headers) and _asks_for_nonce(response):
            self._authorize(request, token)  # once more, with the resource server's nonce (RFC 9449 §9)
            response = yield request
            assert isinstance(response, httpx.Response)
        error = bearer_error(response.headers.get("www-authenticate"), ("bearer", "dpop"))
        if response.status_code != 401 or error != "invalid_token":
            return
        replacement = yield _NeedToken(rejected=token)
        assert isinstance(replacement, str)
        if constant_time_equals(replacement, token):
            return  # nothing new to try: the 401 stands
        self._authorize(request, replacement)
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        manager = self.manager
        if not isinstance(manager, TokenManager):
            raise TypeError("an AsyncTokenManager serves httpx.AsyncClient only; use a TokenManager with httpx.Client")
        flow = self._flow(request)
        try:
            step = next(flow)
            while True:
                reply: _Reply
                if isinstance(step, _NeedToken):
                    reply = manager.access_token() if step.rejected is None else manager.refresh(step.rejected)
                else:
                    reply = yield step
                step = flow.send(reply)
        except StopIteration:
            return

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        manager = self.manager
        flow = self._flow(request)
        try:
            step = next(flow)
            while True:
                reply: _Reply
                if isinstance(step, _NeedToken):
                    reply = await self._token_async(manager, step.rejected)
                else:
                    reply = yield step
                step = flow.send(reply)
        except StopIteration:
            return

    @staticmethod
    async def _token_async(manager: TokenManager | AsyncTokenManager, rejected: str | None) -> str:
        if isinstance(manager, AsyncTokenManager):
            return await (manager.access_token() if rejected is None else manager.refresh(rejected))
        fresh = manager.fresh_token() if rejected is None else None
        if fresh is not None:
            return fresh  # the common case: no lock, no thread
        # A blocking manager refreshes through a blocking client: keep it off the event loop.
        call = manager.access_token if rejected is None else functools.partial(manager.refresh, rejected)
        return await anyio.to_thread.run_sync(call)


def _asks_for_nonce(response: httpx.Response) -> bool:
    return asks_for_nonce(HttpResponse(response.status_code, {k.lower(): v for k, v in response.headers.items()}, b""))


class ClientCredentialsAuth(BearerAuth):
    """Bearer auth for a machine client: tokens come from the client-credentials grant of ``client`` (an
    :class:`OAuthClient` for ``httpx.Client``, an :class:`AsyncOAuthClient` for ``httpx.AsyncClient``) and are
    fetched again, single-flight, shortly before they expire or when a resource server says ``invalid_token``.

    Spec: RFC 6749 §4.4, OAuth 2.1 §4.2.
    """

    def __init__(
        self,
        client: OAuthClient | AsyncOAuthClient,
        scope: str | None = None,
        *,
        store: TokenStore | None = None,
        refresh_margin: float = 60.0,
    ) -> None:
        manager: TokenManager | AsyncTokenManager
        if isinstance(client, AsyncOAuthClient):
            async_client = client

            async def obtain_async(_current: TokenSet | None) -> TokenSet:
                return await async_client.client_credentials(scope)

            manager = AsyncTokenManager(obtain_async, store=store, refresh_margin=refresh_margin)
        else:
            sync_client = client

            def obtain(_current: TokenSet | None) -> TokenSet:
                return sync_client.client_credentials(scope)

            manager = TokenManager(obtain, store=store, refresh_margin=refresh_margin)
        super().__init__(manager)
