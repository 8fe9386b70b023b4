"""Serving the demo SPA (``/app``): its static files, the browser SDK, the SPA's configuration, and a strict CSP.

The SDK is the npm package ``@pixie-oauth/browser`` itself: ``static/sdk`` is a link to ``js/browser/src`` in the
source tree (a wheel holds a copy of those files), served at ``/app/sdk/`` as plain ES modules, so one copy exists and
``pixie demo`` needs no Node.

The SPA has no inline script or style, so the policy allows only this origin's files; ``connect-src`` names the
issuer, which the SDK calls for discovery, ``/token`` and ``/revoke``. ``Referrer-Policy: no-referrer``
keeps the authorization code in ``/app/callback?code=…`` out of any Referer header (RFC 9700 §4.2.4).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pixie.demo.config import API_AUDIENCE, API_PATH, CLIENT_ID, SCOPES, redirect_uri

__all__ = ["SDK", "STATIC", "create_spa", "spa_content_security_policy"]

STATIC = Path(__file__).with_name("static")
SDK = STATIC / "sdk"
"""The modules of ``@pixie-oauth/browser`` (``js/browser/src``)."""
_JS = "text/javascript; charset=utf-8"
_FILES = {
    "app.js": _JS,
    "app.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


def spa_content_security_policy(issuer: str) -> str:
    parts = urlsplit(issuer)
    origin = f"{parts.scheme}://{parts.netloc}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {origin}; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    )


def create_spa(issuer: str) -> Starlette:
    """The SPA's routes, relative to where it is mounted (``/app``). Files are read once, at start."""
    issuer = issuer.rstrip("/")
    headers = {
        "Content-Security-Policy": spa_content_security_policy(issuer),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-cache",
    }
    index = (STATIC / "index.html").read_bytes()
    assets = {name: (STATIC / name).read_bytes() for name in _FILES}
    sdk = {path.name: path.read_bytes() for path in sorted(SDK.glob("*.js"))}
    if "index.js" not in sdk:
        raise RuntimeError(f"the browser SDK is missing from {SDK}")
    config = {
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri(issuer),
        "scope": " ".join(("openid", "profile", *SCOPES)),  # openid profile: the user's name, from the ID token
        "api": f"{issuer}{API_PATH}",
        "audience": API_AUDIENCE,
    }

    async def page(request: Request) -> Response:
        return Response(index, media_type="text/html; charset=utf-8", headers=headers)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            return Response("Not Found", status_code=404, media_type="text/plain", headers=headers)
        return Response(assets[name], media_type=_FILES[name], headers=headers)

    async def module(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in sdk:
            return Response("Not Found", status_code=404, media_type="text/plain", headers=headers)
        return Response(sdk[name], media_type=_JS, headers=headers)

    async def settings(request: Request) -> Response:
        return JSONResponse(config, headers=headers)

    return Starlette(
        routes=[
            Route("/", page, methods=["GET"]),
            Route("/callback", page, methods=["GET"]),
            Route("/config.json", settings, methods=["GET"]),
            Route("/sdk/{name}", module, methods=["GET"]),
            Route("/{name}", asset, methods=["GET"]),
        ]
    )
