"""``pixie.testing``: the ``pixie_server`` fixture is a real Pixie over loopback HTTP, its tokens come through the
real authorization-code + PKCE flow, and its negative tokens fail the checks they are meant to fail.

The tokens are checked by Pixie's resource-server verifiers (keys fetched from the server over HTTP) and by joserfc
on its own, from the published JWKS: a third party's reading of the same token.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from pixie.client import ServerRefused
from pixie.errors import InvalidToken
from pixie.resource import IntrospectionVerifier, JWKSCache, JWTVerifier
from pixie.testing import PixieTestServer

API = "https://api.testing.example"


def _claims(server: PixieTestServer, token: str) -> dict[str, object]:
    """The token's claims as joserfc reads them, verified with the server's published keys."""
    keys = KeySet.import_key_set(httpx.get(f"{server.issuer}/jwks.json").json())
    decoded = jwt.decode(token, keys, algorithms=["ES256", "RS256", "EdDSA"])
    return dict(decoded.claims)


def test_the_server_is_pixie_on_loopback(pixie_server: PixieTestServer) -> None:
    """RFC 8414 metadata at the issuer, which is an http loopback URL of a free port."""
    assert pixie_server.issuer.startswith("http://127.0.0.1:")
    metadata = httpx.get(f"{pixie_server.issuer}/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == pixie_server.issuer
    assert metadata["code_challenge_methods_supported"] == ["S256"]


async def test_token_for_runs_the_code_flow_and_the_token_verifies(pixie_server: PixieTestServer) -> None:
    """A registered client with its audience: ``sub``, ``client_id``, ``scope`` and ``aud`` as asked; a refresh token
    too (the flow went through /token); Pixie's JWTVerifier and joserfc both accept the signature."""
    alice = pixie_server.add_user("alice")
    app = pixie_server.add_client("reports-app", scope="reports:read reports:write", audience=API)
    tokens = pixie_server.token_for("alice", client=app, scope="reports:read")
    assert tokens.token_type.lower() == "bearer" and tokens.scope == "reports:read" and tokens.refresh_token
    verifier = JWTVerifier(pixie_server.issuer, API)
    try:
        token = await verifier.verify(tokens.access_token)
    finally:
        await verifier.aclose()
    assert (token.subject, token.client_id, token.scopes, token.audience) == (
        alice.subject,
        "reports-app",
        frozenset({"reports:read"}),
        (API,),
    )
    claims = _claims(pixie_server, tokens.access_token)
    assert claims["sub"] == alice.subject and claims["iss"] == pixie_server.issuer


def test_each_call_signs_in_anew_and_users_are_added_once(pixie_server: PixieTestServer) -> None:
    """Two calls give two different tokens; adding a user again returns the same user (same ``sub``), and a
    different password for them is refused rather than silently ignored."""
    first = pixie_server.add_user("carol")
    assert pixie_server.add_user("carol") == first
    with pytest.raises(ValueError, match="another password"):
        pixie_server.add_user("carol", "some-other-password-123")
    a = pixie_server.token_for("carol", scope="notes:read")
    b = pixie_server.token_for("carol", scope="notes:read")
    assert a.access_token != b.access_token
    assert _claims(pixie_server, a.access_token)["sub"] == first.subject


def test_a_registered_client_gets_only_its_scopes(pixie_server: PixieTestServer) -> None:
    """A client you register is held to its scopes, as in production: asking for another is ``invalid_scope``
    (RFC 6749 §4.1.2.1), reported by the client library as the server's refusal. Registering it again with the same
    settings returns it; with others is an error."""
    pixie_server.add_user("alice")
    narrow = pixie_server.add_client("narrow-app", scope="reports:read")
    assert pixie_server.add_client("narrow-app", scope=["reports:read"]) == narrow
    with pytest.raises(ValueError, match="differently"):
        pixie_server.add_client("narrow-app", scope="reports:read reports:write")
    with pytest.raises(ValueError, match="differently"):
        pixie_server.add_client("pixie-testing-app")
    with pytest.raises(ServerRefused) as refused:
        pixie_server.token_for("alice", client=narrow, scope="reports:delete")
    assert refused.value.error == "invalid_scope"


async def test_a_token_for_a_registered_resource_is_addressed_to_it(pixie_server: PixieTestServer) -> None:
    """RFC 8707: ``add_resource`` and ``token_for(resource=...)``; the token's ``aud`` is the API, and a verifier
    for another audience refuses it."""
    api = pixie_server.add_resource("https://reports.example/api", scope="reports:read", name="Reports")
    assert pixie_server.add_resource(api, scope="reports:read", name="Reports") == api  # the same again: no-op
    with pytest.raises(ValueError, match="differently"):
        pixie_server.add_resource(api, scope="reports:write")
    pixie_server.add_user("rita")
    tokens = pixie_server.token_for("rita", scope="reports:read", resource=api)
    async with httpx.AsyncClient() as http:
        jwks = JWKSCache(f"{pixie_server.issuer}/jwks.json", http=http)
        verified = await JWTVerifier(pixie_server.issuer, api, jwks=jwks).verify(tokens.access_token)
        assert verified.audience == (api,) and verified.scopes == {"reports:read"}
        with pytest.raises(InvalidToken, match="audience"):
            await JWTVerifier(pixie_server.issuer, "https://other.example", jwks=jwks).verify(tokens.access_token)


def test_a_confidential_client_signs_in_with_its_secret(pixie_server: PixieTestServer) -> None:
    """A confidential client gets a generated secret and authenticates at /token with it."""
    pixie_server.add_user("alice")
    web = pixie_server.add_client("web-app", scope="reports:read", confidential=True)
    assert web.secret and len(web.secret) >= 32
    tokens = pixie_server.token_for("alice", client=web, scope="reports:read")
    assert _claims(pixie_server, tokens.access_token)["client_id"] == "web-app"


async def test_expired_and_wrong_audience_tokens_fail_exactly_their_check(pixie_server: PixieTestServer) -> None:
    """The expired token is signed by the real key for the right audience and fails on ``exp`` only; the
    wrong-audience token is valid in every way but ``aud``. Spec: RFC 9068 §4, RFC 8707."""
    pixie_server.add_user("alice")
    app = pixie_server.add_client("audience-app", scope="reports:read", audience=API)
    expired = pixie_server.expired_token("alice", client=app, scope="reports:read")
    foreign = pixie_server.wrong_audience_token("alice", scope="reports:read")
    claims = _claims(pixie_server, expired)  # the signature verifies: only the time is wrong
    assert claims["aud"] == API and claims["scope"] == "reports:read"
    verifier = JWTVerifier(pixie_server.issuer, API)
    try:
        with pytest.raises(InvalidToken, match="expired"):
            await verifier.verify(expired)
        with pytest.raises(InvalidToken, match="audience"):
            await verifier.verify(foreign)
    finally:
        await verifier.aclose()
    assert _claims(pixie_server, foreign)["aud"] == "urn:pixie:testing:another-audience"


async def test_a_revoked_token_is_inactive_at_introspection(pixie_server: PixieTestServer) -> None:
    """``revoked_token`` revokes at /revoke: an API that introspects refuses it, while a fresh token of the same
    client is active. Spec: RFC 7009 §2.1, RFC 7662 §2.2."""
    pixie_server.add_user("alice")
    resource = pixie_server.add_client(
        "urn:testing:introspecting-api", confidential=True, client_credentials=True, scope="reports:read"
    )
    app = pixie_server.add_client("revoking-app", scope="reports:read", audience=resource.client_id)
    revoked = pixie_server.revoked_token("alice", client=app, scope="reports:read")
    fresh = pixie_server.token_for("alice", client=app, scope="reports:read")
    assert resource.secret is not None
    verifier = IntrospectionVerifier(
        f"{pixie_server.issuer}/introspect", resource.client_id, resource.secret, audience=resource.client_id
    )
    try:
        assert (await verifier.verify(fresh.access_token)).client_id == "revoking-app"
        with pytest.raises(InvalidToken):
            await verifier.verify(revoked)
    finally:
        await verifier.aclose()


def test_the_server_outside_pytest_stops_and_deletes_its_database() -> None:
    """As a context manager: serving inside, gone (port closed, directory deleted) after."""
    with PixieTestServer() as server:
        issuer = server.issuer
        directory = server._directory
        assert directory is not None and (directory / "pixie.db").exists()
        assert httpx.get(f"{issuer}/jwks.json").status_code == 200
    assert not directory.exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{issuer}/jwks.json", timeout=2)
    with pytest.raises(RuntimeError, match="not running"):
        server.add_user("late")


def test_the_plugin_is_opt_in_and_light(tmp_path: Path) -> None:
    """In a project of its own, pytest finds the fixture through the entry point; a session whose tests do not ask
    for it never imports the server."""
    (tmp_path / "test_without.py").write_text(
        textwrap.dedent(
            """
            import sys

            def test_nothing_loaded():
                assert "pixie.server.app" not in sys.modules
                assert "pixie.testing.server" not in sys.modules
            """
        )
    )
    (tmp_path / "test_with.py").write_text(
        textwrap.dedent(
            """
            def test_it_serves(pixie_server):
                pixie_server.add_user("zoe")
                assert pixie_server.token_for("zoe", scope="a:b").scope == "a:b"
            """
        )
    )
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)]
    alone = subprocess.run([*command, "test_without.py"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    served = subprocess.run(
        [*command, "test_with.py"], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120
    )
    assert served.returncode == 0, served.stdout + served.stderr
    assert "1 passed" in served.stdout
