"""CORS for APIs protected by Pixie's tokens, so that a browser app on another origin can call them.

A browser sends a *preflight* (``OPTIONS`` with ``Access-Control-Request-Method``) before a cross-origin request that
carries ``Authorization``; the preflight carries no token, so it must be answered before authentication or it gets
the 401 the real request would not. :class:`CorsMiddleware` answers it itself, then, on the real request, marks the
response (a 401 or 403 included) readable by the calling origin and exposes ``WWW-Authenticate`` (and
``DPoP-Nonce``), so the app can read ``error="invalid_token"`` or the ``scope`` a 403 names.

An origin is allowed when it is in the configured list (``https://app.example``, ``http://localhost:5173``) or when
an async check says so (for origins that change while the API runs, e.g. those of registered clients). Any other
origin gets no ``Access-Control-Allow-Origin`` at all: an origin is never reflected unless allowed, and never ``*``.
Credentials (cookies) are never allowed: bearer tokens travel in ``Authorization``. ``Access-Control-*`` headers the
wrapped app set are removed from responses to cross-origin requests, so that this layer alone decides.

Spec: Fetch Standard §3.2 (the CORS protocol), §3.2.5 (preflight); RFC 6454 §6.1 (serializing an origin); RFC 6750
§3 (``WWW-Authenticate``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AllowedOrigins", "CorsMiddleware", "OriginCheck", "normalize_origin", "origin_check"]

OriginCheck = Callable[[str], Awaitable[bool]]
"""An async predicate over the ``Origin`` header's value, for origins that change at run time."""

AllowedOrigins = Iterable[str] | OriginCheck
"""A fixed list of origins, or an :data:`OriginCheck`."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
_TOKEN_LIST = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?: *, *[!#$%&'*+\-.^_`|~0-9A-Za-z]+)* *")
_ALLOW_METHODS = b"DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
_DEFAULT_ALLOW_HEADERS = b"Authorization, Content-Type, DPoP"
_VARY_PREFLIGHT = b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


def normalize_origin(text: str) -> str:
    """``text`` as a browser serializes the origin it names (lower case, default port left out), or ValueError for
    anything that is not exactly ``scheme://host[:port]`` with an http(s) scheme — no path, wildcard, ``*`` or
    ``null``. A trailing ``/`` is tolerated.

    Spec: RFC 6454 §6.1, Fetch Standard §3.2.
    """
    candidate = text.strip()
    candidate = candidate[:-1] if candidate.endswith("/") else candidate
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} is not an origin (scheme://host[:port])") from None
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if (
        scheme not in _DEFAULT_PORTS
        or not host
        or "*" in candidate
        or "@" in parts.netloc
        or parts.path
        or parts.query
        or parts.fragment
        or "?" in candidate
        or "#" in candidate
        or not all(ch.isascii() and ch.isprintable() and not ch.isspace() for ch in candidate)
    ):
        raise ValueError(f"{text!r} is not an origin (scheme://host[:port], e.g. https://app.example)")
    shown_host = f"[{host}]" if ":" in host else host
    shown_port = f":{port}" if port is not None and port != _DEFAULT_PORTS[scheme] else ""
    return f"{scheme}://{shown_host}{shown_port}"


def origin_check(allowed: AllowedOrigins) -> OriginCheck | None:
    """The :data:`OriginCheck` for ``allowed``; None when it is an empty list (CORS off)."""
    if callable(allowed):
        return allowed
    origins = frozenset(normalize_origin(origin) for origin in allowed)
    if not origins:
        return None

    async def listed(origin: str) -> bool:
        return origin in origins  # the header as browsers send it (normalized); no other spelling matches

    return listed


def _header(scope: Scope, name: bytes) -> bytes | None:
    """The one value of header ``name``; None when it is missing or repeated (a repeated Origin is not an origin)."""
    values = [value for key, value in scope["headers"] if key.lower() == name]
    return values[0] if len(values) == 1 else None


class CorsMiddleware:
    """Pure ASGI: answers CORS preflights before ``app`` sees them and marks responses readable by allowed origins.

    ``allowed_origins``: origins (``https://app.example``) or an async check. ``expose_headers``: response headers
    scripts may read besides the CORS-safelisted ones (``WWW-Authenticate`` and ``DPoP-Nonce`` always). A preflight
    from an origin that is not allowed gets 403 without CORS headers, so the browser never sends the request.

    Spec: Fetch Standard §3.2.2–§3.2.5.
    """

    def __init__(
        self,
        app: ASGIApp,
        allowed_origins: AllowedOrigins,
        *,
        expose_headers: Sequence[str] = (),
        max_age: int = 600,
    ) -> None:
        self.app = app
        check = origin_check(allowed_origins)
        if check is None:
            raise ValueError("CorsMiddleware needs at least one allowed origin (or a check)")
        self._allows = check
        # DPoP-Nonce: a DPoP client must read the nonce a 401 use_dpop_nonce asks for (RFC 9449 §9).
        exposed = dict.fromkeys(["WWW-Authenticate", "DPoP-Nonce", *expose_headers])
        if not all(_TOKEN_LIST.fullmatch(name) for name in exposed):
            raise ValueError("expose_headers must be header names")
        self._expose = ", ".join(exposed).encode("latin-1")
        self._max_age = str(int(max_age)).encode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_origin = _header(scope, b"origin")
        origin = raw_origin.decode("latin-1") if raw_origin is not None else None
        allowed = origin is not None and origin != "null" and await self._allows(origin)
        if scope["method"] == "OPTIONS" and raw_origin is not None and _header(scope, b"access-control-request-method"):
            await self._preflight(scope, send, origin if allowed else None)
            return
        if origin is None and not any(key.lower() == b"origin" for key, _ in scope["headers"]):
            await self.app(scope, receive, send)  # not a cross-origin request: nothing to add or remove
            return
        added = [(b"vary", b"Origin")]
        if allowed and origin is not None:
            added += [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-expose-headers", self._expose),
            ]

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = _without_cors(message.get("headers", []))
                message = {**message, "headers": _merge_vary(headers, added)}
            await send(message)

        await self.app(scope, receive, send_marked)

    async def _preflight(self, scope: Scope, send: Send, origin: str | None) -> None:
        headers = [(b"vary", _VARY_PREFLIGHT), (b"content-length", b"0")]
        if origin is None:
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        requested = _header(scope, b"access-control-request-headers")
        # The origin is trusted: it may send whichever well-formed headers it asks for (the API decides what they
        # mean); Authorization is never covered by a wildcard, so the names are listed.
        allow_headers = requested.strip() if requested and _TOKEN_LIST.fullmatch(requested.decode("latin-1")) else None
        headers += [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", _ALLOW_METHODS),
            (b"access-control-allow-headers", allow_headers or _DEFAULT_ALLOW_HEADERS),
            (b"access-control-max-age", self._max_age),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _without_cors(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(key, value) for key, value in headers if not key.lower().startswith(b"access-control-")]


def _merge_vary(headers: list[tuple[bytes, bytes]], added: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` plus ``added``, with ``Origin`` joined to an existing ``Vary`` rather than sent twice."""
    vary = [value for key, value in headers if key.lower() == b"vary"]
    rest = [(key, value) for key, value in headers if key.lower() != b"vary"]
    names = [name.strip() for value in vary for name in value.split(b",") if name.strip()]
    if b"*" not in names and b"origin" not in (name.lower() for name in names):
        names.append(b"Origin")
    return [*rest, (b"vary", b", ".join(names)), *[(key, value) for key, value in added if key != b"vary"]]
