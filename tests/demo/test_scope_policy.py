"""Role-gated scopes (``TenantSettings.scope_roles``), as the demo uses them: bob asks for every scope and receives
the ones his roles allow — on the consent page, in the token response's ``scope``, in the token, and again at every
refresh. RFC 6749 §3.3 lets the server issue fewer scopes than requested and say so in ``scope``."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.support import PASSWORDS, Demo, consent_page_and_code, sign_in_tokens
from lifecycle.support import refreshed
from pixie.config import Settings
from pixie.demo.config import API_AUDIENCE, CLIENT_ID, SCOPE_ROLES, USERS, demo_database_path, redirect_uri
from pixie.demo.seed import seed_pixie
from pixie.scopes import permitted
from pixie.server.app import open_backend
from spec.support import Browser, Pkce, authorize_pairs, jwt_part, redirect_params


def test_permitted_keeps_open_scopes_and_gates_the_listed_ones() -> None:
    gates = (("b", ("editor", "owner")), ("c", ()))
    assert permitted(("a", "b", "c"), (), gates) == ("a",)
    assert permitted(("a", "b", "c"), ("owner",), gates) == ("a", "b")
    assert permitted(("b", "a"), ("editor", "x"), gates) == ("b", "a")  # order kept
    assert permitted(("a", "b"), ("editor",), ()) == ("a", "b")  # no policy: nothing gated


def test_bob_consents_to_and_receives_only_read_scopes(demo: Demo) -> None:
    consent, _, _ = consent_page_and_code(demo, "bob")
    assert "properties:read" in consent and "tenants:read" in consent
    assert "properties:write" not in consent  # never shown as something he would grant
    bob = sign_in_tokens(demo, "bob")
    assert bob["scope"] == "properties:read tenants:read"
    claims = jwt_part(bob["access_token"], 1)
    assert claims["scope"] == "properties:read tenants:read" and claims["aud"] == API_AUDIENCE


def test_bob_asking_only_for_a_gated_scope_is_denied(demo: Demo) -> None:
    """Nothing left to grant: the request ends with ``access_denied`` at the client (RFC 6749 §4.1.2.1), not with
    a token that carries no scope at all."""
    callback = redirect_uri(demo.base)
    pairs = authorize_pairs(
        client_id=CLIENT_ID, redirect_uri=callback, scope="properties:write", challenge=Pkce.new().challenge
    )
    with Browser(demo.pixie) as browser:
        response = browser.submit_login(browser.login_page(pairs), "bob", PASSWORDS["bob"])
        params = redirect_params(response, callback)
    assert params["error"] == "access_denied" and params["iss"] == demo.base and params["state"] == "st-123"


def test_a_refresh_applies_the_policy_again(demo: Demo) -> None:
    """A user who loses the role stops receiving its scope at the next refresh; the family lives on, bounded by
    what was consented, so a restored role gives the scope back (never more than the original grant)."""
    tokens = sign_in_tokens(demo, "alice")
    assert "properties:write" in tokens["scope"]
    roles = demo.pixie.query("SELECT roles FROM users WHERE username = 'alice'")[0][0]
    demo.pixie.execute("UPDATE users SET roles = '[]' WHERE username = 'alice'")
    try:
        with demo.pixie.client() as http:
            body = refreshed(http, tokens["refresh_token"], client_id=CLIENT_ID)
    finally:
        demo.pixie.execute("UPDATE users SET roles = ? WHERE username = 'alice'", (roles,))
    assert body["scope"] == "properties:read tenants:read"
    assert jwt_part(body["access_token"], 1)["scope"] == "properties:read tenants:read"
    with demo.pixie.client() as http:
        again = refreshed(http, body["refresh_token"], client_id=CLIENT_ID)
    assert again["scope"] == "properties:read properties:write tenants:read"


async def test_seeding_is_idempotent_and_reports_what_it_cannot_fix(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'pixie.db'}", master_key=b"k" * 32)
    async with open_backend(settings) as (storage, _):
        assert await seed_pixie(storage, settings.issuer) == []
        assert await seed_pixie(storage, settings.issuer) == []
        tenant = await storage.tenants.get("default")
        assert tenant is not None and tenant.settings.scope_roles == SCOPE_ROLES
        users = {u.username: u for u in await storage.users.list("default")}
        assert {u.username: users[u.username].roles for u in USERS} == {u.username: u.roles for u in USERS}
        assert [c.client_id for c in await storage.clients.list("default")].count(CLIENT_ID) == 1
        await storage.clients.set_disabled("default", CLIENT_ID, True)
        assert any(CLIENT_ID in warning for warning in await seed_pixie(storage, settings.issuer))


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        ("sqlite:///pixie.db", {}, "pixie-demo.db"),
        ("sqlite:////var/lib/pixie/main.sqlite", {}, "/var/lib/pixie/main-demo.sqlite"),
        ("sqlite+aiosqlite:///data/p", {}, "data/p-demo.db"),
        ("sqlite://", {}, "demo.db"),
        ("postgresql://pixie@db/pixie", {}, "demo.db"),
        ("not a url", {}, "demo.db"),
        ("sqlite:///pixie.db", {"PIXIE_DEMO_DATABASE": "/tmp/x.db"}, "/tmp/x.db"),
    ],
)
def test_demo_database_sits_beside_pixies(url: str, env: dict[str, str], expected: str) -> None:
    assert demo_database_path(url, env) == Path(expected)
