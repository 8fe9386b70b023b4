"""A minimal browser client (an SPA) for the end-to-end tests: PKCE with WebCrypto, state and iss checks, and the
token exchange by ``fetch`` across origins (so CORS on ``/token`` is exercised for real)."""

from __future__ import annotations

import html

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

SCRIPT = r"""
const cfg = document.body.dataset;
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const random = (n) => { const a = new Uint8Array(n); crypto.getRandomValues(a); return b64url(a); };
const show = (text) => { document.getElementById("result").textContent = text; };

async function signIn() {
  const verifier = random(48);
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = random(16);
  sessionStorage.setItem("pkce", JSON.stringify({ verifier, state }));
  const url = new URL(cfg.issuer + "/authorize");
  url.search = new URLSearchParams({
    client_id: cfg.clientId, redirect_uri: cfg.redirectUri, response_type: "code",
    scope: cfg.scope, state, code_challenge: challenge, code_challenge_method: "S256",
  });
  location.assign(url);
}

async function callback() {
  const params = new URLSearchParams(location.search);
  const saved = JSON.parse(sessionStorage.getItem("pkce") || "null");
  sessionStorage.removeItem("pkce");
  if (!saved || params.get("state") !== saved.state) return show("ERROR state mismatch");
  if (params.get("iss") !== cfg.issuer) return show("ERROR iss mismatch");
  if (params.get("error")) return show("ERROR " + params.get("error"));
  const response = await fetch(cfg.issuer + "/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", code: params.get("code"), code_verifier: saved.verifier,
      client_id: cfg.clientId, redirect_uri: cfg.redirectUri,
    }),
  });
  show(JSON.stringify({ status: response.status, body: await response.json() }));
}

document.getElementById("signin").addEventListener("click", signIn);
if (location.pathname === "/cb") callback();
"""


def client_app(*, issuer: str, client_id: str, redirect_uri: str, scope: str) -> Starlette:
    async def page(request: Request) -> Response:
        body = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Test SPA</title></head>"
            f"<body data-issuer='{html.escape(issuer)}' data-client-id='{html.escape(client_id)}' "
            f"data-redirect-uri='{html.escape(redirect_uri)}' data-scope='{html.escape(scope)}'>"
            "<h1>Test SPA</h1><button id='signin'>Sign in</button><pre id='result'></pre>"
            "<script src='/app.js'></script></body></html>"
        )
        return HTMLResponse(body)

    async def script(request: Request) -> Response:
        return Response(SCRIPT, media_type="text/javascript")

    return Starlette(routes=[Route("/", page), Route("/cb", page), Route("/app.js", script)])
