"""``pixie gateway``: a streaming reverse proxy that lets only requests with a valid bearer token through.

For each request the gateway verifies the token (any :class:`~pixie.resource.verifier.TokenVerifier`), picks the
scopes the route needs (longest matching path prefix wins; a rule may name a method; otherwise the default
scopes), answers 401/403 exactly like :class:`~pixie.resource.middleware.BearerAuthMiddleware`, and forwards the
rest to the upstream with who is calling:

* ``X-Pixie-Sub``, ``X-Pixie-Client-Id``, ``X-Pixie-Scope`` (space-separated, sorted) — the upstream may trust
  them because every ``X-Pixie-*`` header the caller sent is removed first (any letter case);
* ``X-Forwarded-For`` (appended), ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` (replaced).

The ``Authorization`` header is **not** forwarded by default: the upstream gets the verified identity in the
headers above and never needs the token, so a log line or a compromised upstream cannot replay it elsewhere (RFC
9700 §4.1 counts leaked bearer tokens among the main threats). ``forward_authorization=True`` (``pixie gateway
--forward-authorization``) keeps it, for upstreams that verify again (defence in depth) or exchange it for a
downstream call.

Hop-by-hop headers (``Connection`` and every header it names, ``Keep-Alive``, ``TE``, ``Trailer``,
``Transfer-Encoding``, ``Upgrade``, ``Proxy-*``) are dropped in both directions (RFC 9110 §7.6.1). Request and
response bodies are streamed, never buffered whole; response bytes pass unchanged (compression included). Paths
with dot segments, empty segments or encoded slashes are refused with 400, so that the prefix the rules saw is
the path the upstream serves. Upstream failures become 502 with a fixed JSON body — no internal detail — and are
logged.

With ``cors_origins`` (``pixie gateway --cors-origin``) the gateway answers CORS preflights itself, before any
token check, and marks responses readable by those origins only (:class:`~pixie.resource.cors.CorsMiddleware`);
``Access-Control-*`` headers from the upstream are then dropped, so the gateway alone decides.

With ``metadata`` (``pixie gateway --resource URL``) the gateway answers for the API it guards as a protected
resource: it serves the RFC 9728 document at the resource's well-known path itself (never forwarded), and every
401/403 names it (``resource_metadata="…"``).

Spec: RFC 9110 §7.6 (intermediaries), RFC 6750 §3.1, RFC 9700 §4.1, RFC 9728 §3, §5.1, Fetch Standard §3.2.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from pixie.errors import InvalidRequest, OAuthError, Rendered
from pixie.resource.cors import AllowedOrigins, CorsMiddleware, origin_check
from pixie.resource.credentials import ResourceDPoP, authenticate
from pixie.resource.metadata import ResourceMetadata
from pixie.resource.middleware import (
    DPOP_ALGS_KEY,
    dpop_challenge,
    render_error,
    scope_error,
    send_rendered,
    under_prefix,
)
from pixie.resource.verifier import AccessToken, TokenVerifier

__all__ = ["HOP_BY_HOP", "Gateway", "RouteRule", "parse_route", "required_scopes"]

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade", b"proxy-connection"}
)
_REPLACED = frozenset({b"host", b"x-forwarded-proto", b"x-forwarded-host"})
_BAD_GATEWAY = Rendered(
    502,
    json.dumps({"error": "bad_gateway", "error_description": "the upstream service is unavailable"}).encode(),
    {"Content-Type": "application/json", "Cache-Control": "no-store"},
)
# Visible ASCII except '%': identities pass unchanged unless they hold other characters (then UTF-8 percent-encoded).
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%") + " "


@dataclass(frozen=True)
class RouteRule:
    """``[METHOD ]PREFIX=SCOPES``: requests under ``PREFIX`` (per path segment) need every scope in ``SCOPES``
    (space-separated; empty: any valid token)."""

    prefix: str
    scopes: tuple[str, ...]
    method: str | None = None


def parse_route(text: str) -> RouteRule:
    """Parse ``/api/properties=properties:read`` or ``POST /api/properties=properties:write``."""
    target, sep, scopes = text.partition("=")
    parts = target.split()
    if not sep or len(parts) not in (1, 2) or not parts[-1].startswith("/"):
        raise ValueError(f"route {text!r} is not [METHOD ]PREFIX=SCOPES with PREFIX starting with '/'")
    method = parts[0].upper() if len(parts) == 2 else None
    return RouteRule(prefix=parts[-1], scopes=tuple(scopes.split()), method=method)


def required_scopes(rules: Sequence[RouteRule], method: str, path: str, default: Sequence[str]) -> tuple[str, ...]:
    """The scopes a request needs: the rule with the longest matching prefix (a method-specific rule beats a
    general one of the same length; ``HEAD`` follows ``GET`` rules), else ``default``."""
    method = "GET" if method == "HEAD" else method
    best: RouteRule | None = None
    for rule in rules:
        if rule.method not in (None, method) or not under_prefix(path, rule.prefix):
            continue
        rank = (len(rule.prefix.rstrip("/")), rule.method is not None)
        if best is None or rank > (len(best.prefix.rstrip("/")), best.method is not None):
            best = rule
    return best.scopes if best is not None else tuple(default)


def _unsafe_path(scope: Scope) -> bool:
    path: str = scope["path"]
    raw = (scope.get("raw_path") or b"").lower()
    if b"%2f" in raw or b"%5c" in raw or "\\" in path or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        return True
    segments = path.split("/")[1:]
    return not path.startswith("/") or any(s in (".", "..") for s in segments) or "" in segments[:-1]


def _connection_named(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    named: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            named.update(token.strip().lower() for token in value.split(b",") if token.strip())
    return named


def _end_to_end(
    headers: Iterable[tuple[bytes, bytes]], extra_drop: frozenset[bytes] = frozenset()
) -> list[tuple[bytes, bytes]]:
    """Headers with hop-by-hop ones removed (RFC 9110 §7.6.1), and ``extra_drop``."""
    pairs = list(headers)
    drop = HOP_BY_HOP | _connection_named(pairs) | extra_drop
    kept: list[tuple[bytes, bytes]] = []
    for name, value in pairs:
        lower = name.lower()
        if lower in drop or lower.startswith(b"proxy-"):
            continue
        kept.append((lower, value))
    return kept


def _identity_value(value: str) -> bytes:
    return quote(value, safe=_HEADER_SAFE).encode("ascii")


class _ClientGone(Exception):
    """The caller disconnected while its request body was being forwarded."""


class _UpstreamBroken(Exception):
    """The upstream failed after the response had started: the connection is dropped so the caller sees a
    truncated response, never a complete-looking one."""


class Gateway:
    """The ASGI app behind ``pixie gateway``. ``http`` is borrowed (never closed here); without it the gateway
    opens its own client, closed on lifespan shutdown or :meth:`aclose`.

    Spec: RFC 9110 §7.6, RFC 6750 §3.1.
    """

    def __init__(
        self,
        upstream: str,
        verifier: TokenVerifier,
        *,
        routes: Sequence[RouteRule] = (),
        require_scopes: Sequence[str] = (),
        public_paths: Sequence[str] = (),
        realm: str = "pixie",
        forward_authorization: bool = False,
        dpop: ResourceDPoP | None = None,
        metadata: ResourceMetadata | None = None,
        http: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout = httpx.Timeout(30.0, connect=5.0),  # noqa: B008  (immutable)
        cors_origins: AllowedOrigins = (),
    ) -> None:
        if not upstream.startswith(("http://", "https://")):
            raise ValueError("the upstream must be an http(s) URL")
        self.upstream = upstream.rstrip("/")
        self.verifier = verifier
        self.routes = tuple(routes)
        self.default_scopes = tuple(require_scopes)
        self.public_paths = tuple(public_paths)
        self.realm = realm
        self.forward_authorization = forward_authorization
        self.dpop = dpop
        if metadata is not None and dpop is not None and not metadata.dpop_signing_alg_values_supported:
            metadata = metadata.with_dpop(dpop.algorithms)
        self.metadata = metadata
        # The proof belongs with the token: both go upstream, or neither.
        self._drop = frozenset(_REPLACED | ({b"authorization", b"dpop"} if not forward_authorization else set()))
        self._http = http
        self._own_http: httpx.AsyncClient | None = None
        self._timeout = timeout
        check = origin_check(cors_origins)
        self._http_entry: ASGIApp = CorsMiddleware(self._serve, check) if check is not None else self._serve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":  # websockets are not proxied
            await receive()
            await send({"type": "websocket.close", "code": 1008})
            return
        if self.metadata is not None and self.metadata.serves(scope["path"]):
            await send_rendered(self.metadata.render(scope["method"]), send)  # public, any origin (before CORS)
            return
        await self._http_entry(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            auth = await self._authorize(scope)
        except OAuthError as error:
            needed = required_scopes(self.routes, scope["method"], scope["path"], self.default_scopes)
            algs = dpop_challenge(scope, error)
            metadata_url = self.metadata.url if self.metadata is not None else None
            rendered = render_error(
                error, realm=self.realm, scope=" ".join(needed), dpop_algs=algs, resource_metadata=metadata_url
            )
            await send_rendered(rendered, send)
            return
        await self._forward(scope, receive, send, auth)

    async def _authorize(self, scope: Scope) -> AccessToken | None:
        if _unsafe_path(scope):
            raise InvalidRequest("the request path is not in normal form")
        if any(under_prefix(scope["path"], prefix) for prefix in self.public_paths):
            return None
        if self.dpop is not None:
            scope[DPOP_ALGS_KEY] = self.dpop.algorithms
        auth = await authenticate(scope, self.verifier, self.dpop)
        error = scope_error(auth, required_scopes(self.routes, scope["method"], scope["path"], self.default_scopes))
        if error is not None:
            raise error
        return auth

    def _upstream_headers(self, scope: Scope, auth: AccessToken | None) -> list[tuple[bytes, bytes]]:
        incoming: list[tuple[bytes, bytes]] = scope["headers"]
        headers = [(n, v) for n, v in _end_to_end(incoming, self._drop) if not n.startswith(b"x-pixie-")]
        if auth is not None:
            headers.append((b"x-pixie-sub", _identity_value(auth.subject or "")))
            headers.append((b"x-pixie-client-id", _identity_value(auth.client_id)))
            headers.append((b"x-pixie-scope", _identity_value(" ".join(sorted(auth.scopes)))))
        client = scope.get("client")
        if client:
            prior = [v for n, v in headers if n == b"x-forwarded-for"]
            headers = [(n, v) for n, v in headers if n != b"x-forwarded-for"]
            chain = b", ".join([*prior, str(client[0]).encode("ascii")])
            headers.append((b"x-forwarded-for", chain))
        headers.append((b"x-forwarded-proto", str(scope.get("scheme", "http")).encode("ascii")))
        host = next((v for n, v in incoming if n.lower() == b"host"), None)
        if host is not None:
            headers.append((b"x-forwarded-host", host))
        return headers

    async def _forward(self, scope: Scope, receive: Receive, send: Send, auth: AccessToken | None) -> None:
        raw_path: bytes = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
        query: bytes = scope.get("query_string", b"")
        url = self.upstream + raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        headers = self._upstream_headers(scope, auth)
        has_body = any(n in (b"content-length", b"transfer-encoding") for n, _ in _lower(scope["headers"]))
        request = httpx.Request(scope["method"], url, headers=headers, content=_body(receive) if has_body else None)
        client = self._client()
        try:
            response = await client.send(request, stream=True)
        except _ClientGone:
            return
        except httpx.HTTPError as exc:
            log.warning("upstream request failed: %s", type(exc).__name__)
            await send_rendered(_BAD_GATEWAY, send)
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": _end_to_end(response.headers.raw),
                }
            )
            try:
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx.HTTPError as exc:
                log.warning("upstream response broke off: %s", type(exc).__name__)
                raise _UpstreamBroken(type(exc).__name__) from None
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    def _client(self) -> httpx.AsyncClient:
        if self._http is not None:
            return self._http
        if self._own_http is None:
            self._own_http = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False, trust_env=False)
        return self._own_http

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        """Close the gateway's own HTTP client, and the verifier's and the DPoP replay cache's connections if they
        have any."""
        if self._own_http is not None:
            await self._own_http.aclose()
            self._own_http = None
        for owner in (self.verifier, self.dpop.replay if self.dpop is not None else None):
            closer = getattr(owner, "aclose", None)
            if closer is not None:
                await closer()


def _lower(headers: Iterable[tuple[bytes, bytes]]) -> Iterable[tuple[bytes, bytes]]:
    return ((n.lower(), v) for n, v in headers)


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk: bytes = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
