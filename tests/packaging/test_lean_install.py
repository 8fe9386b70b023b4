"""``pip install pixie-oauth``, without extras, is the client library and the resource-server verifier, and nothing of
the server (ARCHITECTURE §7).

Done for real: a wheel built from this tree is installed into a fresh virtual environment (pinned by
``constraints.txt``, from the package index), and used there: the client signs in with PKCE against a tiny
authorization server this test runs on loopback, the resource verifier checks the ES256 access token it got against
the JWK set that server publishes, and ``pixie serve`` says in one line which extra it needs. Anything missing fails
the test; nothing is skipped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

ROOT = Path(__file__).resolve().parents[2]
AUDIENCE = "https://api.example"
CLIENT_ID = "lean-app"
REDIRECT_URI = "http://127.0.0.1/callback"


def _run(command: list[str], *, timeout: float = 600, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def _normalized(requirement: str) -> str:
    """The distribution name of a requirement, normalized (PEP 503)."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment holding ``pixie-oauth`` from a wheel of this tree, and only what that wheel requires."""
    work = tmp_path_factory.mktemp("lean")
    source = work / "source"  # setuptools writes build/ and *.egg-info beside the sources: build from a copy
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    _run([*pip, "wheel", "--no-deps", "--wheel-dir", str(work / "dist"), str(source)])
    (wheel,) = (work / "dist").glob("pixie_oauth-*.whl")
    env = work / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env)])
    _run([*pip, "--python", str(env / "bin" / "python"), "install", "-c", str(ROOT / "constraints.txt"), str(wheel)])
    return env


def test_only_the_base_requirements_are_installed(venv: Path) -> None:
    listing = _run([str(venv / "bin" / "python"), "-I", "-c", _LIST_DISTRIBUTIONS]).stdout
    installed = {_normalized(name) for name in json.loads(listing)}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {_normalized(requirement) for requirement in project["dependencies"]}
    extras = project["optional-dependencies"]
    server_side = {_normalized(requirement) for requirement in [*extras["server"], *extras["fastapi"]]}
    assert base <= installed, sorted(base - installed)
    assert not installed & server_side, f"server distributions in the base install: {sorted(installed & server_side)}"
    assert {"httpx", "cryptography", "joserfc"} <= base and "starlette" in server_side  # the lists are the real ones


_LIST_DISTRIBUTIONS = """
import importlib.metadata, json
print(json.dumps(sorted(dist.metadata["Name"] for dist in importlib.metadata.distributions())))
"""


class _AuthorizationServer(ThreadingHTTPServer):
    """An authorization server reduced to what a code flow with PKCE touches: metadata, JWK set, ``/authorize``
    (answers at once with a code, as if the user had signed in and consented) and ``/token``."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.issuer = f"http://127.0.0.1:{self.server_address[1]}"
        self.key = ECKey.generate_key("P-256", parameters={"kid": "lean-1", "alg": "ES256", "use": "sig"})
        self.pending: dict[str, dict[str, str]] = {}

    def access_token(self, scope: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "alice",
            "aud": AUDIENCE,
            "client_id": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_urlsafe(16),
            "scope": scope,
        }
        return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "lean-1"}, claims, self.key)


class _Handler(BaseHTTPRequestHandler):
    server: _AuthorizationServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        issuer = self.server.issuer
        if url.path == "/.well-known/oauth-authorization-server":
            self._json(
                200,
                {
                    "issuer": issuer,
                    "authorization_endpoint": f"{issuer}/authorize",
                    "token_endpoint": f"{issuer}/token",
                    "jwks_uri": f"{issuer}/jwks.json",
                    "code_challenge_methods_supported": ["S256"],
                    "authorization_response_iss_parameter_supported": True,
                },
            )
        elif url.path == "/jwks.json":
            self._json(200, {"keys": [self.server.key.as_dict(private=False)]})
        elif url.path == "/authorize":
            query = dict(parse_qsl(url.query))
            code = secrets.token_urlsafe(16)
            self.server.pending[code] = query
            back = urlencode({"code": code, "state": query["state"], "iss": issuer})
            self.send_response(302)
            self.send_header("Location", f"{query['redirect_uri']}?{back}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        form = dict(parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
        request = self.server.pending.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
        if (
            self.path != "/token"
            or request is None
            or form.get("grant_type") != "authorization_code"
            or form.get("client_id") != request["client_id"]
            or form.get("redirect_uri") != request["redirect_uri"]
            or request.get("code_challenge_method") != "S256"
            or challenge != request["code_challenge"]
        ):
            self._json(400, {"error": "invalid_grant"})
            return
        scope = request.get("scope", "")
        token = self.server.access_token(scope)
        self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 300, "scope": scope})


@pytest.fixture(scope="module")
def authorization_server() -> Iterator[_AuthorizationServer]:
    server = _AuthorizationServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


_SIGN_IN_AND_VERIFY = """
import asyncio, json, sys

import httpx

import pixie
from pixie.client import OAuthClient
from pixie.resource import JWTVerifier

issuer, client_id, redirect_uri, audience = sys.argv[1:]
with OAuthClient(issuer, client_id) as client:
    start = client.start_authorization(redirect_uri, "properties:read")
    answer = httpx.get(start.url)  # the browser's part: the server redirects back at once
    tokens = client.complete_authorization(start.transaction, answer.headers["location"])


async def verify() -> object:
    verifier = JWTVerifier(issuer, audience)
    try:
        return await verifier.verify(tokens.access_token)
    finally:
        await verifier.aclose()


token = asyncio.run(verify())
print(json.dumps({
    "pixie": pixie.__file__,
    "subject": token.subject,
    "scopes": sorted(token.scopes),
    "loaded": sorted({name.split(".")[0] for name in sys.modules}),
}))
"""


def test_client_signs_in_and_verifier_checks_the_token(venv: Path, authorization_server: _AuthorizationServer) -> None:
    """PKCE authorization-code flow with ``pixie.client``, then ``pixie.resource.JWTVerifier`` on the token.

    Spec: RFC 7636 §4 (the server checks the S256 challenge), RFC 9068 §4 (the verifier's checks).
    """
    command = [str(venv / "bin" / "python"), "-I", "-c", _SIGN_IN_AND_VERIFY]
    args = [authorization_server.issuer, CLIENT_ID, REDIRECT_URI, AUDIENCE]
    report = json.loads(_run([*command, *args], timeout=60, cwd=venv).stdout)
    assert Path(report["pixie"]).is_relative_to(venv), report["pixie"]
    assert report["subject"] == "alice" and report["scopes"] == ["properties:read"]
    assert not {"starlette", "sqlalchemy", "uvicorn", "jinja2", "orjson"} & set(report["loaded"])


def test_server_commands_say_which_extra_to_install(venv: Path) -> None:
    pixie = str(venv / "bin" / "pixie")
    for command in (["serve"], ["serve", "--port", "9999"], ["serve", "--help"], ["clients", "list"]):
        done = subprocess.run([pixie, *command], capture_output=True, text=True, timeout=60, cwd=venv, check=False)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert done.stdout == ""
        assert done.stderr == (
            f"pixie: error: pixie {command[0]} needs the server extra: pip install 'pixie-oauth[server]'\n"
        )


def test_help_and_login_run_on_the_base_install(venv: Path) -> None:
    pixie = str(venv / "bin" / "pixie")
    listing = _run([pixie, "--help"], timeout=60, cwd=venv).stdout
    assert re.search(r"^  login\s+Sign in through the browser", listing, re.MULTILINE), listing
    assert re.search(r"^  serve\s+\(needs pixie-oauth\[server\]\)", listing, re.MULTILINE), listing
    assert "--token-file" in _run([pixie, "login", "--help"], timeout=60, cwd=venv).stdout
