"""The client against tiny authorization servers on loopback that break the spec on purpose (STYLE item 11): wrong
issuer, HTML instead of JSON, malformed token responses, a missing ``iss``, a foreign ``state``, and a strict
rotating server for refresh-token handling (issue 5, items 1, 3, 4, 8 and 9)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from livesupport import free_port, serve_in_thread
from pixie.client import FileTokenStore, OAuthClient, ProtocolViolation, ServerRefused, TokenSet

CB = "http://127.0.0.1:9/callback"
GOOD_TOKEN = {"access_token": "at-1", "token_type": "Bearer", "expires_in": 300, "refresh_token": "rt-1"}


@dataclass
class Script:
    """What the scripted server answers, and what it was sent."""

    base: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    metadata_reply: tuple[int, bytes, str] | None = None  # raw (status, body, content type) instead of the JSON
    token_reply: tuple[int, bytes, str] = (200, json.dumps(GOOD_TOKEN).encode(), "application/json")
    token_requests: list[tuple[dict[str, str], str | None]] = field(default_factory=list)

    def reset(self) -> None:
        self.metadata = {
            "issuer": self.base,
            "authorization_endpoint": f"{self.base}/authorize",
            "token_endpoint": f"{self.base}/token",
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
        }
        self.metadata_reply = None
        self.token_reply = (200, json.dumps(GOOD_TOKEN).encode(), "application/json")
        self.token_requests.clear()

    def reply_token(self, body: object, status: int = 200, content_type: str = "application/json") -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.token_reply = (status, raw, content_type)


@contextmanager
def _serve(app: Starlette, port: int) -> Iterator[str]:
    with serve_in_thread(app, port) as base:
        yield base


@pytest.fixture(scope="module")
def _scripted_server() -> Iterator[Script]:
    script = Script()

    async def metadata(request: Request) -> Response:
        if script.metadata_reply is not None:
            status, body, content_type = script.metadata_reply
            return Response(body, status, media_type=content_type)
        return JSONResponse(script.metadata)

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        script.token_requests.append((form, request.headers.get("authorization")))
        status, body, content_type = script.token_reply
        return Response(body, status, media_type=content_type)

    app = Starlette(
        routes=[
            Route("/.well-known/oauth-authorization-server", metadata),
            Route("/token", token, methods=["POST"]),
        ]
    )
    port = free_port()
    script.base = f"http://127.0.0.1:{port}"
    with _serve(app, port):
        yield script


@pytest.fixture
def server(_scripted_server: Script) -> Script:
    """The scripted authorization server, back to well-behaved defaults."""
    _scripted_server.reset()
    return _scripted_server


def _violation(excinfo: pytest.ExceptionInfo[ProtocolViolation], code: str) -> None:
    assert excinfo.value.code == code, (excinfo.value.code, str(excinfo.value))


@pytest.mark.parametrize("issuer_suffix", ["/", "/tenant", ":1"], ids=["trailing-slash", "other-path", "other-port"])
def test_wrong_issuer_in_metadata(server: Script, issuer_suffix: str) -> None:
    """RFC 8414 §3.3: the issuer in the document must be *identical* to the one configured; no normalisation."""
    server.metadata["issuer"] = server.base + issuer_suffix
    with OAuthClient(server.base, "app") as client, pytest.raises(ProtocolViolation) as broken:
        client.metadata()
    _violation(broken, "issuer_mismatch")


def test_missing_issuer_in_metadata(server: Script) -> None:
    del server.metadata["issuer"]
    with OAuthClient(server.base, "app") as client, pytest.raises(ProtocolViolation) as broken:
        client.metadata()
    _violation(broken, "issuer_mismatch")


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ((200, b"<html><body>Welcome</body></html>", "text/html"), "not_json"),
        ((200, b"[1, 2]", "application/json"), "not_json"),
        ((404, b"not found", "text/plain"), "unexpected_status"),
    ],
    ids=["html", "json-array", "404"],
)
def test_metadata_that_is_not_a_document(server: Script, reply: tuple[int, bytes, str], code: str) -> None:
    """RFC 8414 §3.2: 200 with a JSON object, nothing else."""
    server.metadata_reply = reply
    with OAuthClient(server.base, "app") as client, pytest.raises(ProtocolViolation) as broken:
        client.metadata()
    _violation(broken, code)


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("code_challenge_methods_supported", ["plain"]),
        ("token_endpoint", None),
        ("token_endpoint", "http://auth.example/token"),
        ("authorization_response_iss_parameter_supported", "yes"),
    ],
    ids=["no-s256", "no-token-endpoint", "cleartext-endpoint", "iss-flag-not-bool"],
)
def test_metadata_with_bad_fields(server: Script, change: str, value: object) -> None:
    """RFC 8414 §2 field types; RFC 7636 §4.3 (S256); TLS for endpoints (RFC 6749 §3.2)."""
    if value is None:
        del server.metadata[change]
    else:
        server.metadata[change] = value
    with OAuthClient(server.base, "app") as client, pytest.raises(ProtocolViolation) as broken:
        client.metadata()
    _violation(broken, "invalid_metadata")


def test_html_error_page_on_token(server: Script) -> None:
    """A proxy's HTML error page where RFC 6749 §5.2 requires a JSON error: the reply broke the spec."""
    server.reply_token(b"<html><h1>502 Bad Gateway</h1></html>", 502, "text/html")
    with OAuthClient(server.base, "svc", "secret") as client, pytest.raises(ProtocolViolation) as broken:
        client.client_credentials()
    _violation(broken, "not_json")
    assert broken.value.response is not None and broken.value.response.status == 502


def test_unknown_error_code_is_still_server_refused(server: Script) -> None:
    """STYLE item 2: servers send codes we have never seen; the refusal carries them as data."""
    server.reply_token({"error": "slow_down_please", "error_description": "come back later"}, 429)
    with OAuthClient(server.base, "svc", "secret") as client, pytest.raises(ServerRefused) as refused:
        client.client_credentials()
    assert (refused.value.error, refused.value.error_description, refused.value.status) == (
        "slow_down_please",
        "come back later",
        429,
    )
    assert refused.value.code == "server_refused"


def test_error_status_with_json_but_no_error_field(server: Script) -> None:
    server.reply_token({"message": "nope"}, 400)
    with OAuthClient(server.base, "svc", "secret") as client, pytest.raises(ProtocolViolation) as broken:
        client.client_credentials()
    _violation(broken, "unexpected_status")


@pytest.mark.parametrize(
    "body",
    [
        {**GOOD_TOKEN, "expires_in": "3600"},
        {**GOOD_TOKEN, "expires_in": True},
        {**GOOD_TOKEN, "expires_in": -5},
        {**GOOD_TOKEN, "token_type": "mac"},
        {**GOOD_TOKEN, "token_type": "DPoP"},
        {k: v for k, v in GOOD_TOKEN.items() if k != "token_type"},
        {k: v for k, v in GOOD_TOKEN.items() if k != "access_token"},
        {**GOOD_TOKEN, "access_token": ""},
        {**GOOD_TOKEN, "refresh_token": 42},
        {**GOOD_TOKEN, "scope": ["a", "b"]},
    ],
    ids=[
        "expires_in-string",
        "expires_in-bool",
        "expires_in-negative",
        "mac",
        "dpop",
        "no-token-type",
        "no-access-token",
        "empty-access-token",
        "refresh-token-number",
        "scope-list",
    ],
)
def test_malformed_token_responses(server: Script, body: dict[str, Any]) -> None:
    """RFC 6749 §5.1: required fields, their types; RFC 6750: only Bearer tokens are used by this client."""
    server.reply_token(body)
    with OAuthClient(server.base, "svc", "secret") as client, pytest.raises(ProtocolViolation) as broken:
        client.client_credentials()
    _violation(broken, "invalid_token_response")


def test_token_response_leniencies(server: Script) -> None:
    """``token_type`` is case-insensitive (RFC 6749 §5.1), a float ``expires_in`` is a number, ``Cache-Control`` is
    not the client's concern, extra fields are kept in ``raw``, and the requested scope stands in for an omitted
    one."""
    server.reply_token({"access_token": "at", "token_type": "bEaReR", "expires_in": 59.5, "id_token": "x"})
    with OAuthClient(server.base, "svc", "secret") as client:
        tokens = client.client_credentials("a b")
    assert tokens.token_type == "Bearer" and tokens.scope == "a b" and tokens.raw["id_token"] == "x"
    assert tokens.expires_at is not None and abs(tokens.expires_at - tokens.issued_at - 59.5) < 1e-6


def test_basic_credentials_are_form_encoded(server: Script) -> None:
    """RFC 6749 §2.3.1: id and secret are application/x-www-form-urlencoded before base64."""
    with OAuthClient(server.base, "my app", "s3cr:t +%/é") as client:
        client.client_credentials()
    form, authorization = server.token_requests[-1]
    assert authorization is not None and authorization.startswith("Basic ")
    user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
    assert (unquote_plus(user), unquote_plus(password)) == ("my app", "s3cr:t +%/é")
    assert "client_secret" not in form and "client_id" not in form


def test_post_auth_is_chosen_when_the_server_supports_only_that(server: Script) -> None:
    """RFC 8414 §2 ``token_endpoint_auth_methods_supported``: follow what the server says it accepts."""
    server.metadata["token_endpoint_auth_methods_supported"] = ["client_secret_post"]
    with OAuthClient(server.base, "svc", "secret") as client:
        client.client_credentials()
    form, authorization = server.token_requests[-1]
    assert authorization is None and (form["client_id"], form["client_secret"]) == ("svc", "secret")


def _callback(client: OAuthClient, **params: str) -> tuple[Any, str]:
    start = client.start_authorization(CB, "read")
    params = {"code": "the-code", "state": start.transaction.state, **params}
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return start.transaction, f"{CB}?{query}"


def test_missing_iss_when_advertised(server: Script) -> None:
    """RFC 9207 §2.4: the server advertises ``iss`` support, the response has none: refused, no code sent."""
    with OAuthClient(server.base, "app") as client:
        transaction, callback = _callback(client)
        with pytest.raises(ProtocolViolation) as broken:
            client.complete_authorization(transaction, callback)
    _violation(broken, "missing_iss")
    assert server.token_requests == []


def test_missing_iss_is_fine_when_not_advertised(server: Script) -> None:
    """RFC 9207 §2.4: without the metadata flag a response without ``iss`` is accepted; the code is redeemed with
    the verifier and the redirect URI."""
    server.metadata["authorization_response_iss_parameter_supported"] = False
    with OAuthClient(server.base, "app") as client:
        transaction, callback = _callback(client)
        tokens = client.complete_authorization(transaction, callback)
    assert tokens.access_token == "at-1" and tokens.scope == "read"
    form, authorization = server.token_requests[-1]
    assert authorization is None
    assert form == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": CB,
        "code_verifier": transaction.code_verifier,
        "client_id": "app",
    }


def test_iss_of_another_server(server: Script) -> None:
    """RFC 9207 §2.4: a mix-up: the response names another issuer."""
    with OAuthClient(server.base, "app") as client:
        transaction, callback = _callback(client, iss="https://attacker.example")
        with pytest.raises(ProtocolViolation) as broken:
            client.complete_authorization(transaction, callback)
    _violation(broken, "iss_mismatch")


def test_error_response_is_checked_for_iss_first(server: Script) -> None:
    """An error response is an authorization response too: without ``iss`` it is not trusted (RFC 9207 §2.4)."""
    with OAuthClient(server.base, "app") as client:
        transaction, callback = _callback(client, error="access_denied")
        with pytest.raises(ProtocolViolation) as broken:
            client.complete_authorization(transaction, callback)
        _violation(broken, "missing_iss")
        transaction, callback = _callback(client, error="access_denied", iss=server.base)
        with pytest.raises(ServerRefused) as refused:
            client.complete_authorization(transaction, callback)
    assert refused.value.error == "access_denied"


def test_state_mismatch(server: Script) -> None:
    """RFC 6749 §10.12: another state (CSRF, or a stale tab) is refused; repeated parameters too."""
    with OAuthClient(server.base, "app") as client:
        transaction, callback = _callback(client, iss=server.base, state="forged")
        with pytest.raises(ProtocolViolation) as broken:
            client.complete_authorization(transaction, callback)
        _violation(broken, "state_mismatch")
        transaction, callback = _callback(client, iss=server.base)
        with pytest.raises(ProtocolViolation) as repeated:
            client.complete_authorization(transaction, callback + "&code=second")
        _violation(repeated, "invalid_callback")
    assert server.token_requests == []


@dataclass
class Rotating:
    """A strict rotating server: every refresh must present the newest refresh token, and gets a new one (or,
    with ``omit``, none: the old one stays valid, as RFC 6749 §6 allows)."""

    issued: list[str] = field(default_factory=lambda: ["rt-0"])
    presented: list[str] = field(default_factory=list)
    omit: bool = False

    def app(self, base: str) -> Starlette:
        async def metadata(request: Request) -> Response:
            return JSONResponse({"issuer": base, "token_endpoint": f"{base}/token"})

        async def token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode()))
            presented = form["refresh_token"]
            self.presented.append(presented)
            if presented != self.issued[-1]:
                return JSONResponse({"error": "invalid_grant", "error_description": "token reused"}, 400)
            n = len(self.presented)
            body: dict[str, Any] = {"access_token": f"at-{n}", "token_type": "Bearer", "expires_in": 300}
            if not self.omit:
                self.issued.append(f"rt-{n}")
                body["refresh_token"] = self.issued[-1]
            return JSONResponse(body)

        well_known = Route("/.well-known/oauth-authorization-server", metadata)
        return Starlette(routes=[well_known, Route("/token", token, methods=["POST"])])


@pytest.mark.parametrize("omit", [False, True], ids=["rotates", "keeps"])
def test_rotated_refresh_token_handling(tmp_path: Path, omit: bool) -> None:
    """The token manager saves the rotated refresh token before using the new access token and presents it on the
    next refresh; when the server sends none, the previous one is kept (RFC 6749 §6, RFC 9700 §4.14.2)."""
    rotating = Rotating(omit=omit)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    store = FileTokenStore(tmp_path / "tokens.json")
    seed = TokenSet("at-0", "Bearer", expires_at=0.0, refresh_token="rt-0", issued_at=0.0)
    with _serve(rotating.app(base), port), OAuthClient(base, "app") as client:
        manager = client.token_manager(seed, store=store)
        assert manager.access_token() == "at-1"
        for expected in ("at-2", "at-3"):
            assert manager.refresh(manager.access_token()) == expected
        saved = FileTokenStore(tmp_path / "tokens.json").load()
    assert saved is not None and saved.access_token == "at-3"
    if omit:
        assert rotating.presented == ["rt-0", "rt-0", "rt-0"] and saved.refresh_token == "rt-0"
    else:
        assert rotating.presented == ["rt-0", "rt-1", "rt-2"] and saved.refresh_token == "rt-3"
