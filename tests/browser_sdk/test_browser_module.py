"""``@pixie-oauth/browser`` as installed from its tarball, in Chromium, against two tiny issuers this test serves: the
rules no real server breaks on purpose.

- ``PixieTenants``: a callback goes to the tenant whose flow its ``state`` names; handed to another tenant it is
  refused and the flow stays for its owner; tokens never cross (the other tenant stays signed out).
- The same callback handled twice (React strict mode) makes one token request.
- ``user``: the ID token's claims when the token response carries one — refused when ``iss``, ``aud``, ``exp``,
  ``nonce`` or ``sub`` is wrong — and ``null`` without one.
- An authorization response whose ``iss`` is the other tenant's is refused before the code is used (mix-up).

Spec: RFC 9207 §2.4 (``iss``), RFC 6749 §10.12 (``state``), OpenID Connect Core §3.1.3.7 (ID token validation),
§3.1.2.1 (``nonce``), RFC 9700 §4.4 (mix-up).
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from livesupport import free_port, serve_in_thread

INSTALLED = Path(__file__).resolve().parent / "app" / "node_modules" / "@pixie-oauth"
"""The packages as installed from their npm-pack tarballs (``make js``)."""
TOKEN_REQUESTS: Counter[str] = Counter()


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _issuers_app(base: str) -> Starlette:
    """Two issuers, ``{base}/t/a`` and ``{base}/t/b``. Their token endpoint turns the code (base64url JSON) into the
    ID token's claims (``{}``: no ID token), so the page decides what each sign-in returns."""

    async def page(request: Request) -> Response:
        return Response("<!doctype html><title>sdk</title>", media_type="text/html")

    async def module(request: Request) -> Response:
        path = INSTALLED / "browser" / "src" / request.path_params["name"]
        return FileResponse(path, media_type="text/javascript") if path.is_file() else Response(status_code=404)

    async def metadata(request: Request) -> Response:
        issuer = f"{base}/t/{request.path_params['tenant']}"
        return JSONResponse(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "code_challenge_methods_supported": ["S256"],
                "authorization_response_iss_parameter_supported": True,
            }
        )

    async def token(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        TOKEN_REQUESTS[tenant] += 1
        form = await request.form()
        code = str(form["code"])
        claims = json.loads(base64.urlsafe_b64decode(code + "=" * (-len(code) % 4)))
        body = {"access_token": f"at-{tenant}", "token_type": "Bearer", "expires_in": 300, "scope": "openid"}
        if claims:
            body["id_token"] = f"{_b64({'alg': 'ES256', 'typ': 'JWT'})}.{_b64(claims)}.c2lnbmF0dXJl"
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return Starlette(
        routes=[
            Route("/", page),
            Route("/sdk/{name}", module),
            Route("/.well-known/oauth-authorization-server/t/{tenant}", metadata),
            Route("/t/{tenant}/token", token, methods=["POST"]),
        ]
    )


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    if not (INSTALLED / "browser" / "src" / "index.js").is_file():
        pytest.fail("the packed @pixie-oauth/browser is not installed: `make test` (or `make js`) does it")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve_in_thread(_issuers_app(url), port):
        yield url


CHECKS = """async ({ base }) => {
  const m = await import("/sdk/index.js");
  const A = base + "/t/a", B = base + "/t/b", redirectUri = base + "/callback";
  const tenants = new m.PixieTenants({ clientId: "app", redirectUri, scope: "openid" });
  const [a, b] = await Promise.all([tenants.add("a", { issuer: A }), tenants.add("b", { issuer: B })]);
  const flow = (issuer, nonce) => {
    const state = m.generateState();
    sessionStorage.setItem("pixie-pkce:flow:" + state, JSON.stringify({
      verifier: m.generateVerifier(), issuer, clientId: "app", redirectUri, scope: "openid", returnTo: "/x",
      silent: false, nonce, createdAt: Date.now() }));
    return state;
  };
  const enc = (o) => btoa(JSON.stringify(o)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  const callback = (state, iss, claims) =>
    `${redirectUri}?code=${enc(claims)}&state=${state}&iss=${encodeURIComponent(iss)}`;
  const attempt = async (auth, url) => {
    try { await auth.handleCallback(url); return "ok"; }
    catch (e) { return e.name + ": " + (e.error || e.message); }
  };
  const now = Math.floor(Date.now() / 1000);
  const claims = (iss, nonce, extra = {}) => ({ iss, aud: "app", sub: "user-1", exp: now + 300, nonce, ...extra });
  const r = {};

  const sA = flow(A, "nonce-a");
  const urlA = callback(sA, A, claims(A, "nonce-a", { name: "Ada" }));
  r.tenantOf = tenants.tenantOf(urlA);
  r.crossed = await attempt(b, urlA);
  r.keptForOwner = sessionStorage.getItem("pixie-pkce:flow:" + sA) !== null;
  r.twice = await Promise.all([attempt(a, urlA), attempt(a, urlA)]);
  r.user = a.user;
  r.signedIn = [a.signedIn, b.signedIn];

  const cases = {
    wrongNonce: claims(B, "other"),
    wrongAud: claims(B, "n", { aud: "someone-else" }),
    audList: claims(B, "n", { aud: ["api", "app"] }),
    expired: claims(B, "n", { exp: now - 3600 }),
    otherIss: claims(B, "n", { iss: A }),
    noSub: claims(B, "n", { sub: "" }),
  };
  r.cases = {};
  for (const [name, c] of Object.entries(cases)) {
    r.cases[name] = await attempt(b, callback(flow(B, "n"), B, c));
    r.cases[name + "User"] = b.user;
    await b.signOut();
  }
  r.noIdToken = await attempt(b, callback(flow(B, null), B, {}));
  r.noIdTokenUser = b.user;
  await b.signOut();
  r.mixUp = await attempt(b, callback(flow(B, "n"), A, claims(B, "n")));
  r.left = Object.keys(sessionStorage).filter((k) => k.startsWith("pixie-pkce:flow:"));
  return r;
}"""


def test_tenants_isolation_and_id_token_checks(browser: Browser, base: str) -> None:
    page = browser.new_context().new_page()
    page.goto(f"{base}/")
    TOKEN_REQUESTS.clear()
    r = page.evaluate(CHECKS, {"base": base})
    assert r["tenantOf"] == "a"
    assert r["crossed"] == "ProtocolError: the stored sign-in belongs to another issuer or client"
    assert r["keptForOwner"] is True
    assert r["twice"] == ["ok", "ok"]
    assert r["user"]["sub"] == "user-1" and r["user"]["name"] == "Ada" and r["user"]["iss"] == f"{base}/t/a"
    assert r["signedIn"] == [True, False]  # a's tokens never reached b
    cases = r["cases"]
    assert cases["wrongNonce"] == "ProtocolError: the ID token's nonce is not this sign-in's"
    assert cases["wrongAud"] == "ProtocolError: the ID token is not for this client"
    assert cases["audList"] == "ok" and cases["audListUser"]["aud"] == ["api", "app"]
    assert cases["expired"] == "ProtocolError: the ID token has expired"
    assert cases["otherIss"] == "ProtocolError: the ID token names another issuer"
    assert cases["noSub"] == "ProtocolError: the ID token has no sub"
    for refused in ("wrongNonce", "wrongAud", "expired", "otherIss", "noSub"):
        assert cases[refused + "User"] is None  # a refused ID token signs nobody in
    assert r["noIdToken"] == "ok" and r["noIdTokenUser"] is None
    assert r["mixUp"] == f"ProtocolError: the response came from {base}/t/a"
    assert r["left"] == []
    # One exchange for the callback handled twice; b: the six ID-token cases and the one without (the mix-up never
    # reached the token endpoint).
    assert TOKEN_REQUESTS == {"a": 1, "b": 7}
