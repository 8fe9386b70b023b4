"""CORS for Pixie-protected APIs, over real HTTP on loopback: ``BearerAuthMiddleware(cors_origins=…)``, the FastAPI
``install_cors`` beside the ``require_scopes`` dependency, and ``pixie gateway --cors-origin`` as a subprocess.
Tokens come from the real Pixie of this package.

Invariants: a preflight (no token) is answered before authentication — 204 for an allowed origin, 403 and no CORS
headers otherwise; every response to an allowed origin (401 and 403 included) carries ``Access-Control-Allow-Origin``
= that origin and exposes ``WWW-Authenticate``; no other origin is ever reflected, never ``*``, never credentials;
the wrapped app's own ``Access-Control-*`` headers never reach a cross-origin caller.

Spec: Fetch Standard §3.2.2–§3.2.5 (CORS protocol, preflight); RFC 6454 §6.1 (origin serialization); RFC 6750 §3.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from resource_support import AUDIENCE
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from livesupport import cli_env, free_port, pixie_process, run_pixie, serve_in_thread
from pixie.resource import BearerAuthMiddleware, CorsMiddleware, JWTVerifier, requires_scopes
from pixie.resource.cors import normalize_origin
from pixie.resource.fastapi import install_cors, install_error_handler, require_scopes

Pixie = Any
APP = "http://127.0.0.1:5173"
DEV = "http://localhost:5173"
OTHER = [
    "https://evil.example",
    "http://127.0.0.1:5174",
    "https://127.0.0.1:5173",
    "http://127.0.0.1:5173.evil.example",
    "http://localhost:51730",
    "null",
    "*",
]


@requires_scopes("properties:read")
async def list_properties(request: Request) -> Response:
    return JSONResponse({"sub": request.auth.subject})


@requires_scopes("properties:write")
async def create_property(request: Request) -> Response:
    return JSONResponse({"created": True}, status_code=201)


async def careless(request: Request) -> Response:
    """An endpoint that opens itself to every origin: the CORS layer must not let that through."""
    return JSONResponse({"ok": True}, headers={"Access-Control-Allow-Origin": "*", "Vary": "Accept"})


def closing(verifier: JWTVerifier) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A lifespan that closes the verifier's HTTP client on the server's own event loop."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        await verifier.aclose()

    return lifespan


def starlette_api(verifier: JWTVerifier | None = None) -> Starlette:
    return Starlette(
        routes=[
            Route("/properties", list_properties, methods=["GET"]),
            Route("/properties", create_property, methods=["POST"]),
            Route("/careless", careless, methods=["GET"]),
        ],
        lifespan=closing(verifier) if verifier is not None else None,
    )


@pytest.fixture(scope="module")
def api(pixie: Pixie) -> Iterator[str]:
    """BearerAuthMiddleware with two allowed origins, served by uvicorn on its own port."""
    verifier = JWTVerifier(pixie.base, AUDIENCE)
    app = BearerAuthMiddleware(starlette_api(verifier), verifier, realm="api", cors_origins=[APP, DEV + "/"])
    with serve_in_thread(app, free_port()) as base:
        yield base


def preflight(base: str, path: str, origin: str, method: str = "GET", headers: str = "authorization") -> httpx.Response:
    return httpx.options(
        f"{base}{path}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def bearer(token: str, origin: str | None = APP) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **({"Origin": origin} if origin else {})}


def assert_readable_by(response: httpx.Response, origin: str) -> None:
    assert response.headers.get("access-control-allow-origin") == origin, response.headers
    exposed = {name.strip() for name in response.headers["access-control-expose-headers"].lower().split(",")}
    assert {"www-authenticate", "dpop-nonce"} <= exposed  # RFC 6750 §3, RFC 9449 §9: readable by the app
    assert "access-control-allow-credentials" not in response.headers
    assert "origin" in response.headers.get("vary", "").lower()


def assert_no_cors(response: httpx.Response) -> None:
    assert not [name for name in response.headers if name.lower().startswith("access-control-")], response.headers


@pytest.mark.parametrize("origin", [APP, DEV])
@pytest.mark.parametrize(("method", "path"), [("GET", "/properties"), ("POST", "/properties"), ("PUT", "/nowhere")])
def test_preflight_answered_before_authentication(api: str, origin: str, method: str, path: str) -> None:
    """Fetch §3.2.5: the preflight carries no token; it gets 204 with the grants, never the 401 of the request."""
    response = preflight(api, path, origin, method, "authorization, content-type")
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == origin
    assert method in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"].lower() == "authorization, content-type"
    assert int(response.headers["access-control-max-age"]) > 0
    assert "access-control-allow-credentials" not in response.headers
    assert "www-authenticate" not in response.headers
    assert "origin" in response.headers["vary"].lower()


@pytest.mark.parametrize("origin", OTHER)
def test_preflight_from_another_origin_is_refused(api: str, origin: str) -> None:
    """Fetch §3.2.3: no ``Access-Control-Allow-Origin`` for an origin that is not allowed, so no request follows."""
    response = preflight(api, "/properties", origin)
    assert response.status_code == 403
    assert_no_cors(response)


def test_malformed_request_headers_get_the_default_list(api: str) -> None:
    """Requested header names are echoed only when they are header names (RFC 9110 §5.1 tokens)."""
    response = preflight(api, "/properties", APP, headers="authorization, x y;z")
    assert response.status_code == 204
    assert response.headers["access-control-allow-headers"] == "Authorization, Content-Type, DPoP"


def test_success_is_readable_by_the_allowed_origin(api: str, pixie: Pixie) -> None:
    response = httpx.get(f"{api}/properties", headers=bearer(pixie.mint("reader")))
    assert response.status_code == 200 and response.json() == {"sub": "reader"}
    assert_readable_by(response, APP)


def test_401_and_403_are_readable_with_their_challenge(api: str, pixie: Pixie) -> None:
    """RFC 6750 §3: the app can read ``WWW-Authenticate`` (error, scope) of a cross-origin refusal."""
    missing = httpx.get(f"{api}/properties", headers={"Origin": DEV})
    assert missing.status_code == 401 and 'error="invalid_token"' in missing.headers["www-authenticate"]
    assert_readable_by(missing, DEV)
    narrow = httpx.post(f"{api}/properties", headers=bearer(pixie.mint("reader")))
    assert narrow.status_code == 403 and 'scope="properties:write"' in narrow.headers["www-authenticate"]
    assert_readable_by(narrow, APP)


@pytest.mark.parametrize("origin", OTHER)
def test_other_origins_are_never_reflected(api: str, pixie: Pixie, origin: str) -> None:
    """The request is served (CORS protects the reader, not the server) but the browser may not read it."""
    response = httpx.get(f"{api}/properties", headers=bearer(pixie.mint("reader"), origin))
    assert response.status_code == 200
    assert_no_cors(response)
    assert "origin" in response.headers["vary"].lower()


def test_the_apps_own_cors_headers_are_replaced(api: str, pixie: Pixie) -> None:
    """An endpoint answering ``Access-Control-Allow-Origin: *`` is overruled: the allowed origin gets itself, any
    other origin nothing; an existing ``Vary`` keeps its names and gains ``Origin``."""
    token = pixie.mint("reader")
    allowed = httpx.get(f"{api}/careless", headers=bearer(token))
    assert_readable_by(allowed, APP)
    assert [v.strip() for v in allowed.headers["vary"].split(",")] == ["Accept", "Origin"]
    assert_no_cors(httpx.get(f"{api}/careless", headers=bearer(token, "https://evil.example")))


def test_repeated_origin_is_not_an_origin(api: str, pixie: Pixie) -> None:
    headers = [("Authorization", f"Bearer {pixie.mint('reader')}"), ("Origin", APP), ("Origin", APP)]
    assert_no_cors(httpx.get(f"{api}/properties", headers=headers))


def test_same_origin_requests_are_unchanged(api: str, pixie: Pixie) -> None:
    """No ``Origin``: nothing added (the careless endpoint's own header is the app's business)."""
    plain = httpx.get(f"{api}/properties", headers=bearer(pixie.mint("reader"), None))
    assert plain.status_code == 200 and "vary" not in plain.headers
    assert_no_cors(plain)


def test_without_origins_the_middleware_speaks_no_cors(pixie: Pixie) -> None:
    """CORS is opt-in: without ``cors_origins`` a preflight meets the token check as before."""
    verifier = JWTVerifier(pixie.base, AUDIENCE)
    app = BearerAuthMiddleware(starlette_api(verifier), verifier, realm="api")
    with serve_in_thread(app, free_port()) as base:
        response = preflight(base, "/properties", APP)
    assert response.status_code == 401
    assert_no_cors(response)


def test_a_check_decides_at_request_time(pixie: Pixie) -> None:
    """``cors_origins`` may be an async check, consulted per request (origins that change while the API runs)."""
    allowed: set[str] = set()

    async def check(origin: str) -> bool:
        return origin in allowed

    verifier = JWTVerifier(pixie.base, AUDIENCE)
    app = BearerAuthMiddleware(starlette_api(verifier), verifier, cors_origins=check)
    with serve_in_thread(app, free_port()) as base:
        before = preflight(base, "/properties", APP)
        allowed.add(APP)
        after = preflight(base, "/properties", APP)
    assert before.status_code == 403 and after.status_code == 204
    assert after.headers["access-control-allow-origin"] == APP


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("https://app.example", "https://app.example"),
        ("https://APP.Example/", "https://app.example"),
        ("https://app.example:443", "https://app.example"),
        ("http://localhost:5173", "http://localhost:5173"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_origins_are_normalized_as_browsers_send_them(text: str, origin: str) -> None:
    """RFC 6454 §6.1: lower-case scheme and host, the default port left out."""
    assert normalize_origin(text) == origin


@pytest.mark.parametrize(
    "text",
    ["*", "null", "https://*.example", "https://app.example/path", "app.example", "ftp://app.example", "https://u@a.b"],
)
def test_non_origins_are_refused_at_configuration(text: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        CorsMiddleware(starlette_api(), [text])


def test_fastapi_install_cors_with_the_dependency(pixie: Pixie) -> None:
    """The dependency alone (no middleware, ``verifier=``): ``install_cors`` answers the preflight that FastAPI
    would refuse with 405 (no OPTIONS route) and makes the dependency's 401 readable."""
    verifier = JWTVerifier(pixie.base, AUDIENCE)
    app = FastAPI(lifespan=closing(verifier))
    install_error_handler(app)

    @app.get("/properties")
    async def properties(token: Any = Depends(require_scopes("properties:read", verifier=verifier))) -> Any:  # noqa: B008
        return {"sub": token.subject}

    install_cors(app, [APP])
    with serve_in_thread(app, free_port()) as base:
        pre = preflight(base, "/properties", APP)
        refused = httpx.get(f"{base}/properties", headers={"Origin": APP})
        ok = httpx.get(f"{base}/properties", headers=bearer(pixie.mint("reader")))
        other = preflight(base, "/properties", "https://evil.example")
    assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == APP
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
    assert_readable_by(refused, APP)
    assert ok.json() == {"sub": "reader"}
    assert_readable_by(ok, APP)
    assert other.status_code == 403
    assert_no_cors(other)


async def upstream_app(request: Request) -> Response:
    """The proxied API, careless about CORS: the gateway must decide alone."""
    return JSONResponse(
        {"sub": request.headers.get("x-pixie-sub")},
        headers={"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "true"},
    )


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    app = Starlette(routes=[Route("/{path:path}", upstream_app, methods=["GET", "POST", "OPTIONS"])])
    with serve_in_thread(app, free_port()) as base:
        yield base


def test_gateway_cors_origin(pixie: Pixie, upstream: str, tmp_path: Path) -> None:
    """``pixie gateway --cors-origin`` (repeatable): preflights answered by the gateway before the token check (the
    upstream never sees them), responses readable by those origins only, the upstream's CORS headers dropped."""
    port = free_port()
    args = [
        *("gateway", "--upstream", upstream, "--issuer", pixie.base, "--audience", AUDIENCE),
        *("--port", str(port), "--require-scope", "properties:read"),
        *("--cors-origin", APP, "--cors-origin", DEV),
    ]
    base = f"http://127.0.0.1:{port}"
    env = cli_env(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    with pixie_process(args, env, ready_url=f"{base}/"):
        pre = preflight(base, "/api/x", DEV)
        foreign = preflight(base, "/api/x", "https://evil.example")
        anonymous = httpx.get(f"{base}/api/x", headers={"Origin": APP})
        ok = httpx.get(f"{base}/api/x", headers=bearer(pixie.mint("reader")))
        unread = httpx.get(f"{base}/api/x", headers=bearer(pixie.mint("reader"), "https://evil.example"))
    assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == DEV
    assert foreign.status_code == 403
    assert_no_cors(foreign)
    assert anonymous.status_code == 401
    assert_readable_by(anonymous, APP)
    assert ok.json() == {"sub": "reader"}
    assert_readable_by(ok, APP)
    assert unread.status_code == 200
    assert_no_cors(unread)


@pytest.mark.parametrize("origin", ["*", "https://*.example", "https://app.example/cb"])
def test_gateway_refuses_a_bad_cors_origin(tmp_path: Path, origin: str) -> None:
    args = ["gateway", "--upstream", "http://127.0.0.1:1", "--issuer", "http://127.0.0.1:2", "--cors-origin", origin]
    result = run_pixie(args, cli_env(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}"))
    assert result.returncode == 2, result.stderr
    assert "--cors-origin" in result.stderr and "Traceback" not in result.stderr
