"""``pixie.testing`` beyond one tenant and one public app: tenants with their own issuers and settings, machine
clients, a deployment's settings, a database seeded beforehand, and middleware around the app — what Pixie's own
suite needs to start every server it runs through it, and what an app with tenants or services needs too.

Tokens are read by joserfc from the tenant's published JWKS, a third party's reading of them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from livesupport import free_port, run_coroutine
from pixie.config import Settings
from pixie.management import ensure_default_tenant, register_client
from pixie.storage.schema import open_storage
from pixie.testing import PixieTestServer
from pixie.tokens.keys import KeyRing

MASTER_KEY = b"testing-deployments-master-key!!"


def _claims(issuer: str, token: str) -> dict[str, object]:
    keys = KeySet.import_key_set(httpx.get(f"{issuer}/jwks.json").json())
    return dict(jwt.decode(token, keys, algorithms=["ES256", "RS256", "EdDSA"]).claims)


def test_a_tenant_is_an_issuer_of_its_own(pixie_server: PixieTestServer) -> None:
    """``add_tenant`` returns ``<issuer>/t/<name>``; its users and clients live there only, its tokens carry its
    ``iss``, verify against its keys and not the default tenant's, and follow its settings (a 60 s lifetime)."""
    issuer = pixie_server.add_tenant("acme-co", display_name="Acme Co", access_token_ttl=60)
    assert issuer == f"{pixie_server.issuer}/t/acme-co" == pixie_server.issuer_of("acme-co")
    assert httpx.get(f"{issuer}/.well-known/oauth-authorization-server").json()["issuer"] == issuer
    assert pixie_server.add_tenant("acme-co", display_name="Acme Co", access_token_ttl=60) == issuer
    with pytest.raises(ValueError, match="differently"):
        pixie_server.add_tenant("acme-co", access_token_ttl=120)

    wile = pixie_server.add_user("wile", tenant="acme-co")
    app = pixie_server.add_client("acme-portal", scope="anvils:read", tenant="acme-co")
    tokens = pixie_server.token_for("wile", client=app, scope="anvils:read")
    claims = _claims(issuer, tokens.access_token)
    assert (claims["iss"], claims["sub"], claims["client_id"]) == (issuer, wile.subject, "acme-portal")
    assert tokens.raw["expires_in"] == 60 and claims["exp"] == claims["iat"] + 60  # type: ignore[operator]
    with pytest.raises(JoseError):
        _claims(pixie_server.issuer, tokens.access_token)  # the default tenant's keys do not verify it

    with pytest.raises(LookupError, match="no user 'wile'"):
        pixie_server.token_for("wile", scope="anvils:read")  # not a user of the default tenant
    by_id = pixie_server.token_for("wile", client="acme-portal", scope="anvils:read", tenant="acme-co")
    assert _claims(issuer, by_id.access_token)["sub"] == wile.subject


def test_a_machine_client_gets_a_client_credentials_token(pixie_server: PixieTestServer) -> None:
    """A confidential client with only the client-credentials grant needs no redirect URI; its token's ``sub`` is the
    client (RFC 9068 §2.2), for its audience, with the lifetime it was registered with. A public client is told to
    register a secret rather than sent to ``/token`` without one."""
    worker = pixie_server.add_client(
        "billing-worker",
        confidential=True,
        grant_types=["client_credentials"],
        secret="billing-worker-secret-0123456789abcdef",
        scope="invoices:write",
        audience="https://billing.example",
        access_token_ttl=90,
    )
    assert worker.redirect_uri == "" and worker.secret == "billing-worker-secret-0123456789abcdef"
    tokens = pixie_server.client_credentials_token(worker, scope="invoices:write")
    claims = _claims(pixie_server.issuer, tokens.access_token)
    assert (claims["sub"], claims["aud"], claims["scope"]) == (
        "billing-worker",
        "https://billing.example",
        "invoices:write",
    )
    assert tokens.raw["expires_in"] == 90 and tokens.refresh_token is None
    with pytest.raises(ValueError, match="no secret"):
        pixie_server.client_credentials_token(pixie_server.add_client("browser-only", scope="a:b"))


def test_settings_change_what_the_server_does() -> None:
    """Keyword arguments are :class:`Settings` fields: here ``/metrics`` trusts no address and asks for the
    credentials it was given."""
    with PixieTestServer(metrics_allow=(), metrics_basic_auth="prometheus:scrape-secret-123") as server:
        assert server.settings is not None and server.settings.metrics_basic_auth == "prometheus:scrape-secret-123"
        assert httpx.get(f"{server.issuer}/metrics").status_code == 401
        assert httpx.get(f"{server.issuer}/metrics", auth=("prometheus", "scrape-secret-123")).status_code == 200


async def _seed(database_url: str) -> None:
    async with open_storage(database_url) as storage:
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER_KEY))
        await register_client(
            storage,
            "default",
            "seeded",
            redirect_uris=[],
            public=False,
            secret="seeded-secret-0123456789abcdef0123",
            grant_types=["client_credentials"],
        )


async def _client_ids(database_url: str) -> list[str]:
    async with open_storage(database_url) as storage:
        return sorted(client.client_id for client in await storage.clients.list("default"))


def test_given_settings_serve_a_seeded_database_and_leave_it(tmp_path: Path) -> None:
    """With ``settings``, the server serves that database on the issuer's port, registers no client of its own
    unless a token needs it (the dashboard's ``pixie-admin`` is the server's, as under ``pixie serve``), and leaves
    the database in place when it stops."""
    database_url = f"sqlite:///{tmp_path / 'seeded.db'}"
    run_coroutine(_seed(database_url))
    port = free_port()
    settings = Settings(database_url=database_url, issuer=f"http://127.0.0.1:{port}", master_key=MASTER_KEY)
    with PixieTestServer(settings) as server:
        assert (server.issuer, server.base_url, server.database_url) == (settings.issuer,) * 2 + (database_url,)
        answer = httpx.post(
            f"{server.issuer}/token",
            data={"grant_type": "client_credentials"},
            auth=("seeded", "seeded-secret-0123456789abcdef0123"),
        )
        assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"
    assert (tmp_path / "seeded.db").exists()
    assert run_coroutine(_client_ids(database_url)) == ["pixie-admin", "seeded"]


def test_a_second_instance_of_one_issuer_listens_on_a_port_of_its_own(tmp_path: Path) -> None:
    """``port`` serves the same issuer elsewhere, as two instances behind a load balancer: both publish the same
    issuer and the same keys, from one database."""
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    run_coroutine(_seed(database_url))
    settings = Settings(database_url=database_url, issuer=f"http://127.0.0.1:{free_port()}", master_key=MASTER_KEY)
    with PixieTestServer(settings) as one, PixieTestServer(settings, port=free_port()) as two:
        assert one.base_url != two.base_url and one.issuer == two.issuer
        documents = [httpx.get(f"{s.base_url}/.well-known/oauth-authorization-server").json() for s in (one, two)]
        assert documents[0]["issuer"] == documents[1]["issuer"] == settings.issuer
        assert httpx.get(f"{one.base_url}/jwks.json").json() == httpx.get(f"{two.base_url}/jwks.json").json()


def test_wrap_puts_middleware_around_the_app() -> None:
    """``wrap`` sees every request the server answers."""
    seen: list[str] = []

    def counting(app: Callable[..., Any]) -> Callable[..., Any]:
        async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                seen.append(scope["path"])
            await app(scope, receive, send)

        return middleware

    with PixieTestServer(wrap=counting) as server:
        httpx.get(f"{server.issuer}/jwks.json")
        server.add_user("ada")
        server.token_for("ada", scope="a:b")
    assert seen[0] == "/jwks.json" and {"/authorize", "/login", "/consent", "/token"} <= set(seen)


def test_an_issuer_off_loopback_is_refused_before_anything_starts() -> None:
    """The server listens on loopback; an issuer it could not answer at is an error, not a hang."""
    with pytest.raises(ValueError, match="loopback"):
        PixieTestServer(Settings(issuer="https://auth.example.com", master_key=MASTER_KEY))
    with pytest.raises(ValueError, match="loopback"):
        PixieTestServer(issuer="http://10.0.0.1:8000")


def test_sign_in_with_your_client_keeps_the_sso_session(pixie_server: PixieTestServer) -> None:
    """``sign_in(..., http=client)`` leaves the SSO session in your client's cookie jar: the next authorization
    from it comes straight back with a code, no login page (a returning user); a fresh client is asked to log in."""
    pixie_server.add_user("sso-sam")
    app = pixie_server.add_client("sso-app", scope="notes:read")

    def authorize_url(state: str) -> str:
        query = httpx.QueryParams(
            response_type="code",
            client_id=app.client_id,
            redirect_uri=app.redirect_uri,
            scope="notes:read",
            state=state,
            code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            code_challenge_method="S256",
        )
        return f"{pixie_server.issuer}/authorize?{query}"

    with httpx.Client() as browser, httpx.Client() as stranger:
        first = pixie_server.sign_in("sso-sam", authorize_url("one"), app.redirect_uri, http=browser)
        assert "code=" in first and "state=one" in first
        again = browser.get(authorize_url("two"))
        assert again.status_code == 303 and again.headers["location"].startswith(app.redirect_uri)
        assert "code=" in again.headers["location"] and "state=two" in again.headers["location"]
        fresh = stranger.get(authorize_url("three"))
        assert fresh.status_code == 303 and "/login" in fresh.headers["location"]
