"""Protecting an ASGI app with bearer tokens: a pure-ASGI middleware and a scope decorator for Starlette.

``BearerAuthMiddleware`` reads ``Authorization: Bearer …`` (RFC 6750 §2.1 — the only method OAuth 2.1 keeps), asks
its :class:`~pixie.resource.verifier.TokenVerifier`, and puts the :class:`AccessToken` in ``scope["auth"]`` (so
Starlette's ``request.auth`` works). A missing or bad token gets 401 with
``WWW-Authenticate: Bearer realm="…", error="invalid_token", error_description="…"``, a JSON body and
``Cache-Control: no-store``; the response is rendered by ``on_error`` (replaceable). ``lifespan`` scopes pass
through untouched; ``websocket`` handshakes are checked like requests and refused with close code 1008 (policy
violation), since letting them through unauthenticated would be a hole, not a feature.

A missing token gets ``error="invalid_token"`` too, so that clients have one code to react to (RFC 6750 §3.1 says
the error code SHOULD be left out when no credentials were sent: a deliberate choice against that SHOULD).

With ``cors_origins`` the middleware also speaks CORS (:class:`~pixie.resource.cors.CorsMiddleware`): preflights
are answered before authentication, and responses, errors included, are readable by those origins only.

``requires_scopes`` guards one endpoint: 401 without a token in ``scope["auth"]``, 403 ``insufficient_scope`` with
the needed ``scope`` in the challenge when a scope is missing.

Given ``metadata`` (:class:`~pixie.resource.metadata.ResourceMetadata`), the middleware serves the resource's RFC
9728 document at its well-known path (without a token) and names it in every challenge it and
``requires_scopes`` send (``resource_metadata="…"``), so a client that was refused can find where to get a token.

Spec: RFC 6750 §2.1, §3, §3.1; RFC 9728 §3, §5.1; Fetch Standard §3.2 (CORS).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, ParamSpec

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from pixie.errors import (
    InsufficientScope,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    OAuthError,
    Rendered,
    UseDPoPNonce,
    safe_text,
)
from pixie.resource.cors import AllowedOrigins, CorsMiddleware, origin_check
from pixie.resource.credentials import SCHEME_KEY, ResourceDPoP, authenticate, request_credentials
from pixie.resource.metadata import ResourceMetadata
from pixie.resource.verifier import AccessToken, TokenVerifier

__all__ = [
    "DPOP_ALGS_KEY",
    "REALM_KEY",
    "RESOURCE_METADATA_KEY",
    "BearerAuthMiddleware",
    "bearer_token",
    "error_app",
    "render_error",
    "requires_scopes",
    "scope_error",
    "send_rendered",
    "under_prefix",
]

P = ParamSpec("P")
REALM_KEY = "pixie.realm"
"""Where the middleware leaves its realm in the ASGI scope, so later 401/403s name the same realm."""
DPOP_ALGS_KEY = "pixie.dpop_algs"
"""Where the middleware leaves the DPoP proof algorithms it accepts (when it accepts DPoP), for later challenges."""
RESOURCE_METADATA_KEY = "pixie.resource_metadata"
"""Where the middleware leaves the URL of the resource's RFC 9728 metadata (when it has some), for later
challenges."""


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token of the request's one ``Authorization: Bearer`` header; None when there is none (or another
    scheme); :class:`InvalidRequest` when the header repeats; :class:`InvalidToken` when it is malformed.

    Spec: RFC 6750 §2.1, §3.1.
    """
    credentials = request_credentials(headers)
    return credentials.token if credentials is not None and credentials.scheme == "Bearer" else None


def render_error(
    error: OAuthError,
    *,
    realm: str,
    scope: str | None = None,
    dpop_algs: Sequence[str] | None = None,
    resource_metadata: str | None = None,
) -> Rendered:
    """A protected resource's error response: the ``Bearer`` challenge for the RFC 6750 codes (with ``scope`` on
    ``insufficient_scope``), a plain JSON error (no challenge) for faults on our side such as 503. With
    ``dpop_algs`` — the request used the ``DPoP`` scheme, or its proof failed — the challenge is ``DPoP`` with the
    accepted algorithms, and a proof error is a 401. With ``resource_metadata`` (a URL), every challenge names
    the resource's metadata.

    Spec: RFC 6750 §3, §3.1; RFC 9449 §7.1, §12.2; RFC 9728 §5.1.
    """
    if dpop_algs is not None and isinstance(
        error, InvalidToken | InsufficientScope | InvalidRequest | InvalidDPoPProof | UseDPoPNonce
    ):
        rendered = error.render_json()
        challenge = error.www_authenticate(
            realm=realm,
            scope=scope if isinstance(error, InsufficientScope) else None,
            scheme="DPoP",
            algs=dpop_algs,
            resource_metadata=resource_metadata,
        )
        status = 401 if isinstance(error, InvalidDPoPProof | UseDPoPNonce) else rendered.status
        return Rendered(status, rendered.body, {**rendered.headers, "WWW-Authenticate": challenge})
    if isinstance(error, InvalidToken | InsufficientScope | InvalidRequest):
        return error.render_bearer(
            realm=realm,
            scope=scope if isinstance(error, InsufficientScope) else None,
            resource_metadata=resource_metadata,
        )
    return error.render_json()


def dpop_challenge(asgi_scope: Scope, error: OAuthError) -> Sequence[str] | None:
    """The DPoP algorithms to challenge with for this request's error: when DPoP is accepted here and the request
    used the DPoP scheme or its proof failed; None for a ``Bearer`` challenge.

    Spec: RFC 9449 §7.1.
    """
    algs: Sequence[str] | None = asgi_scope.get(DPOP_ALGS_KEY)
    if algs is None:
        return None
    if asgi_scope.get(SCHEME_KEY) == "DPoP" or isinstance(error, InvalidDPoPProof | UseDPoPNonce):
        return algs
    return None


def error_app(error: OAuthError, *, realm: str, scope: str | None = None) -> ASGIApp:
    """An ASGI app that sends :func:`render_error`'s response."""
    rendered = render_error(error, realm=realm, scope=scope)

    async def app(asgi_scope: Scope, receive: Receive, send: Send) -> None:
        await send_rendered(rendered, send)

    return app


async def send_rendered(rendered: Rendered, send: Send) -> None:
    """Send a :class:`Rendered` response over raw ASGI."""
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in rendered.headers.items()]
    headers.append((b"content-length", str(len(rendered.body)).encode("ascii")))
    await send({"type": "http.response.start", "status": rendered.status, "headers": headers})
    await send({"type": "http.response.body", "body": rendered.body})


def under_prefix(path: str, prefix: str) -> bool:
    """``/docs`` covers ``/docs`` and ``/docs/x`` but not ``/docsecret``."""
    base = prefix.rstrip("/")
    return path == base or path.startswith(base + "/")


class BearerAuthMiddleware:
    """Pure-ASGI access-token check in front of ``app``.

    ``public_paths``: path prefixes (matched per segment: ``/docs`` covers ``/docs/x``, not ``/docsecret``) that
    need no token; there ``scope["auth"]`` is None. ``on_error`` turns an :class:`OAuthError` into the ASGI app
    that answers (default: :func:`render_error`'s response with this ``realm``). ``dpop`` accepts DPoP-bound tokens
    with their proofs (:mod:`pixie.resource.credentials`); without it, bound tokens are refused. ``cors_origins``:
    origins of browser apps that may call the API (``["https://app.example"]``), or an async check of the ``Origin``
    header; empty: no CORS. ``metadata`` serves the resource's RFC 9728 document (to any origin) and names it in
    challenges (with the DPoP algorithms when ``dpop`` is set).

    Spec: RFC 6750 §2.1, §3; RFC 9449 §7; RFC 9728 §3, §5.1; Fetch Standard §3.2.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        realm: str = "pixie",
        public_paths: Sequence[str] = (),
        on_error: Callable[[OAuthError], ASGIApp] | None = None,
        dpop: ResourceDPoP | None = None,
        cors_origins: AllowedOrigins = (),
        metadata: ResourceMetadata | None = None,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.realm = realm
        self.public_paths = tuple(public_paths)
        self.on_error = on_error
        self.dpop = dpop
        if metadata is not None and dpop is not None and not metadata.dpop_signing_alg_values_supported:
            metadata = metadata.with_dpop(dpop.algorithms)
        self.metadata = metadata
        check = origin_check(cors_origins)
        self._entry: ASGIApp = CorsMiddleware(self._authenticate, check) if check is not None else self._authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.metadata is not None and scope["type"] == "http" and self.metadata.serves(scope["path"]):
            # Before CORS: the document is public and readable from any origin, listed or not (RFC 9728 §3).
            await send_rendered(self.metadata.render(scope["method"]), send)
            return
        await self._entry(scope, receive, send)

    async def _authenticate(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope[REALM_KEY] = self.realm
        if self.dpop is not None:
            scope[DPOP_ALGS_KEY] = self.dpop.algorithms
        if self.metadata is not None:
            scope[RESOURCE_METADATA_KEY] = self.metadata.url
        if any(under_prefix(scope["path"], prefix) for prefix in self.public_paths):
            scope["auth"] = None
            await self.app(scope, receive, send)
            return
        try:
            scope["auth"] = await authenticate(scope, self.verifier, self.dpop)
        except OAuthError as error:
            if kind == "websocket":
                await receive()  # websocket.connect: the handshake is answered with a close (HTTP 403)
                await send({"type": "websocket.close", "code": 1008})
            elif self.on_error is not None:
                await self.on_error(error)(scope, receive, send)
            else:
                rendered = render_error(
                    error,
                    realm=self.realm,
                    dpop_algs=dpop_challenge(scope, error),
                    resource_metadata=scope.get(RESOURCE_METADATA_KEY),
                )
                await send_rendered(rendered, send)
            return
        await self.app(scope, receive, send)


def scope_error(auth: object, needed: Sequence[str]) -> OAuthError | None:
    """Why ``auth`` (the ``scope["auth"]`` value) may not make a request that needs ``needed``, or None.

    Spec: RFC 6750 §3.1 (``invalid_token`` 401, ``insufficient_scope`` 403).
    """
    if not isinstance(auth, AccessToken):
        return InvalidToken("a bearer token is required")
    if not auth.has_scopes(*needed):
        return InsufficientScope(safe_text(f"this request needs the scope: {' '.join(needed)}", 300))
    return None


def requires_scopes(
    *scopes: str,
) -> Callable[[Callable[P, Awaitable[Response]]], Callable[P, Awaitable[Response]]]:
    """Guard a Starlette endpoint (function or ``HTTPEndpoint`` method) taking the request: it runs only when
    :class:`BearerAuthMiddleware` verified a token carrying every scope in ``scopes``.

    Spec: RFC 6750 §3.1.
    """
    needed = tuple(scopes)

    def decorator(endpoint: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
        @functools.wraps(endpoint)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> Response:
            request = _find_request(args, kwargs)
            error = scope_error(request.scope.get("auth"), needed)
            if error is not None:
                realm = str(request.scope.get(REALM_KEY, "pixie"))
                algs = dpop_challenge(request.scope, error)
                metadata_url = request.scope.get(RESOURCE_METADATA_KEY)
                rendered = render_error(
                    error, realm=realm, scope=" ".join(needed), dpop_algs=algs, resource_metadata=metadata_url
                )
                return Response(rendered.body, status_code=rendered.status, headers=rendered.headers)
            return await endpoint(*args, **kwargs)

        return guarded

    return decorator


def _find_request(args: tuple[Any, ...], kwargs: dict[str, Any]) -> HTTPConnection:
    for value in (*args, *kwargs.values()):
        if isinstance(value, HTTPConnection):
            return value
    raise TypeError("@requires_scopes needs an endpoint that takes the Starlette request")
