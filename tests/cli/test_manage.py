"""``pixie clients|users|tenants`` list, show and change, as a user runs them: real subprocesses on a real SQLite file
(and the main paths on PostgreSQL), plus a real server to show that disabling and deleting end what they should.

ARCHITECTURE §4: exit 0 on success, 2 for a usage error (Click's usage block, then one line), 1 for the rest, always
``pixie: error: <one line>`` and never an exception's class name.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from livesupport import cli_env, free_port, pixie_process, run_pixie
from spec.support import (
    SPA_CB,
    Browser,
    Pixie,
    Pkce,
    approve_consent,
    authorize_pairs,
    redirect_params,
    sign_in,
    token_request,
)

KEY = {"PIXIE_SECRET_KEY": "C" * 43}
RS_SECRET = "resource-server-secret-0123456789-abcdefgh"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path, f"sqlite:///{tmp_path / 'manage.db'}", KEY)


def ok(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    result = run_pixie(args, env, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def fails(args: list[str], env: dict[str, str], code: int, needle: str, stdin: str | None = None) -> str:
    """The one error line of a failing command (after Click's usage block for a usage error)."""
    result = run_pixie(args, env, stdin=stdin)
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr and "Error:" not in result.stderr, result.stderr
    if lines and lines[0].startswith("Usage: "):
        assert code == 2, result.stderr
        assert lines[1].startswith("Try '") and lines[1].endswith("' for help.") and lines[2] == "", result.stderr
        lines = lines[3:]
    assert len(lines) == 1 and lines[0].startswith("pixie: error: "), result.stderr
    assert needle in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]


def table(output: str) -> list[list[str]]:
    """A table's rows as cells (columns are separated by two spaces or more)."""
    return [[cell for cell in line.split("  ") if cell.strip()] for line in output.splitlines()]


def _cells(row: list[str]) -> list[str]:
    return [cell.strip() for cell in row]


# --- clients -------------------------------------------------------------------------------------------------------


def _spa(env: dict[str, str], client_id: str = "spa", *extra: str) -> None:
    ok(["clients", "create", client_id, "--public", "--redirect-uri", SPA_CB, "--scope", "a:read b:read", *extra], env)


def test_clients_list_and_show(env: dict[str, str]) -> None:
    _spa(env, "spa", "--audience", "urn:api")
    ok(["clients", "create", "svc", "--generate-secret", "--grant-type", "client_credentials"], env)
    rows = [_cells(row) for row in table(ok(["clients", "list"], env))]
    assert rows[0] == ["CLIENT ID", "NAME", "TYPE", "STATUS", "GRANTS", "SCOPE"]
    assert [row[0] for row in rows[1:]] == ["pixie-admin", "spa", "svc"]
    assert rows[2] == ["spa", "-", "public", "enabled", "authorization_code, refresh_token", "a:read b:read"]
    lines = ok(["clients", "list"], env).splitlines()
    assert len({line.index("TYPE") if i == 0 else None for i, line in enumerate(lines)} - {None}) == 1
    assert all(line[lines[0].index("TYPE") - 2 : lines[0].index("TYPE")] == "  " for line in lines)  # aligned

    listed = json.loads(ok(["clients", "list", "--json"], env))
    assert [c["client_id"] for c in listed] == ["pixie-admin", "spa", "svc"]
    assert all("secret_hash" not in c and "client_secret" not in c for c in listed)
    shown = json.loads(ok(["clients", "show", "spa", "--json"], env))
    assert shown == listed[1]
    assert shown["redirect_uris"] == [SPA_CB] and shown["audiences"] == ["urn:api"] and shown["disabled"] is False

    human = ok(["clients", "show", "spa"], env)
    assert "client id:" in human and SPA_CB in human and "urn:api" in human and "{" not in human


def test_clients_update(env: dict[str, str], tmp_path: Path) -> None:
    _spa(env)
    updated = json.loads(
        ok(
            [
                *("clients", "update", "spa", "--name", "Property Manager"),
                *("--redirect-uri", "https://app.example/cb", "--redirect-uri", SPA_CB),
                *("--refresh-grace-seconds", "10", "--json"),
            ],
            env,
        )
    )
    assert updated["name"] == "Property Manager"
    assert updated["redirect_uris"] == ["https://app.example/cb", SPA_CB]
    assert updated["scope"] == "a:read b:read" and updated["refresh_grace_seconds"] == 10  # the rest stays
    assert updated["ended"] is None  # no scope taken away: nothing ends
    narrowed = json.loads(ok(["clients", "update", "spa", "--scope", "a:read", "--json"], env))
    assert narrowed["scope"] == "a:read" and narrowed["ended"]["refresh_families"] == 0
    assert json.loads(ok(["clients", "show", "spa", "--json"], env)) | {"ended": None} == narrowed | {"ended": None}
    logo = "https://cdn.example/pm.png"
    assert json.loads(ok(["clients", "update", "spa", "--logo-uri", logo, "--json"], env))["logo_uri"] == logo
    assert json.loads(ok(["clients", "update", "spa", "--logo-uri", "", "--json"], env))["logo_uri"] is None
    cleared = json.loads(ok(["clients", "update", "spa", "--audience", "urn:x", "--json"], env))
    assert cleared["audiences"] == ["urn:x"]
    assert json.loads(ok(["clients", "update", "spa", "--no-audience", "--json"], env))["audiences"] == []
    with sqlite3.connect(tmp_path / "manage.db") as db:
        assert db.execute("select name from clients where client_id = 'spa'").fetchone() == ("Property Manager",)


def test_rotate_secret(env: dict[str, str], tmp_path: Path) -> None:
    ok(["clients", "create", "svc", "--generate-secret", "--grant-type", "client_credentials"], env)
    rotated = json.loads(ok(["clients", "rotate-secret", "svc", "--json"], env))
    secret = rotated["client_secret"]
    assert len(secret) >= 43
    with sqlite3.connect(tmp_path / "manage.db") as db:
        (stored,) = db.execute("select secret_hash from clients where client_id = 'svc'").fetchone()
    assert stored == hashlib.sha256(secret.encode()).hexdigest()  # only its hash is kept
    assert secret.encode() not in (tmp_path / "manage.db").read_bytes()
    chosen = "a-caller-chosen-secret-of-forty-characters"
    ok(["clients", "rotate-secret", "svc", "--secret-stdin"], env, stdin=chosen + "\n")
    with sqlite3.connect(tmp_path / "manage.db") as db:
        (stored,) = db.execute("select secret_hash from clients where client_id = 'svc'").fetchone()
    assert stored == hashlib.sha256(chosen.encode()).hexdigest()
    fails(["clients", "rotate-secret", "svc", "--secret-stdin"], env, 2, "no secret", stdin="")
    human = run_pixie(["clients", "rotate-secret", "svc"], env)
    assert human.returncode == 0 and "client secret:" in human.stdout and "shown once" in human.stderr


def test_clients_disable_enable_delete(env: dict[str, str], tmp_path: Path) -> None:
    _spa(env)
    disabled = json.loads(ok(["clients", "disable", "spa", "--json"], env))
    assert disabled["disabled"] is True and disabled["ended"]["refresh_families"] == 0
    assert json.loads(ok(["clients", "show", "spa", "--json"], env))["disabled"] is True
    assert "disabled" in ok(["clients", "list"], env)
    assert json.loads(ok(["clients", "enable", "spa", "--json"], env))["ended"] is None
    assert ok(["clients", "delete", "spa"], env).startswith("client 'spa' deleted from tenant 'default'")
    fails(["clients", "show", "spa"], env, 1, "no client 'spa' in tenant 'default'")
    _spa(env)  # the id is free again


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["clients", "show", "ghost"], 1, "no client 'ghost'"),
        (["clients", "update", "ghost", "--name", "x"], 1, "no client 'ghost'"),
        (["clients", "delete", "ghost"], 1, "no client 'ghost'"),
        (["clients", "disable", "ghost"], 1, "no client 'ghost'"),
        (["clients", "rotate-secret", "ghost"], 1, "no client 'ghost'"),
        (["clients", "list", "--tenant", "ghost"], 1, "no tenant named 'ghost'"),
        (["clients", "update", "spa"], 2, "nothing to change"),
        (["clients", "update", "spa", "--redirect-uri", "http://evil.example/cb"], 2, "https"),
        (["clients", "update", "spa", "--grant-type", "client_credentials"], 2, "public client"),
        (["clients", "update", "spa", "--audience", "a", "--no-audience"], 2, "not both"),
        (["clients", "update", "spa", "--refresh-grace-seconds", "61"], 2, "0<=x<=60"),
        (["clients", "update", "spa", "--name", "x" * 101], 2, "client name"),
        (["clients", "update", "spa", "--scope", "bad\u0001scope"], 2, "scope"),
        (["clients", "rotate-secret", "spa"], 2, "public"),
        (["clients", "update", "spa", "--logo-uri", "http://cdn.example/logo.png"], 2, "https URL"),
        (["clients", "update", "spa", "--logo-uri", "javascript:alert(1)"], 2, "https URL"),
        (["clients", "enable", "ghost"], 1, "no client 'ghost'"),
        (["clients", "delete", "pixie-admin"], 2, "dashboard"),
        (["clients", "update", "pixie-admin", "--name", "x"], 2, "dashboard"),
        (["clients", "show"], 2, "Missing argument 'CLIENT_ID'"),
        (["clients", "list", "--nope"], 2, "No such option"),
        (["clients", "frobnicate"], 2, "No such command"),
    ],
)
def test_client_errors(env: dict[str, str], args: list[str], code: int, needle: str) -> None:
    _spa(env)
    fails(args, env, code, needle)


# --- users ---------------------------------------------------------------------------------------------------------


def test_users_list_show_disable_enable_delete(env: dict[str, str]) -> None:
    ok(["users", "create", "alice", "--password-stdin", "--role", "admin"], env, stdin="alice-long-password\n")
    ok(["users", "create", "bob", "--password-stdin"], env, stdin="bob-long-password\n")
    rows = [_cells(row) for row in table(ok(["users", "list"], env))]
    assert rows[0] == ["USERNAME", "STATUS", "ROLES", "SUB", "CREATED"]
    assert [(row[0], row[1], row[2]) for row in rows[1:]] == [("alice", "enabled", "admin"), ("bob", "enabled", "-")]
    listed = json.loads(ok(["users", "list", "--json"], env))
    assert [u["username"] for u in listed] == ["alice", "bob"] and all("password_hash" not in u for u in listed)
    assert json.loads(ok(["users", "show", "bob", "--json"], env)) == listed[1]
    assert "sub:" in ok(["users", "show", "bob"], env)

    disabled = json.loads(ok(["users", "disable", "bob", "--json"], env))
    assert disabled["disabled"] is True and set(disabled["ended"]) >= {"refresh_families", "sso_sessions"}
    assert json.loads(ok(["users", "show", "bob", "--json"], env))["disabled"] is True
    assert ok(["users", "enable", "bob"], env) == "user 'bob' enabled\n"
    changed = json.loads(
        ok(["users", "set-password", "bob", "--password-stdin", "--json"], env, stdin="new-pass-word\n")
    )
    assert changed["password_changed"] is True
    assert ok(["users", "delete", "bob"], env).startswith("user 'bob' deleted from tenant 'default'")
    assert [u["username"] for u in json.loads(ok(["users", "list", "--json"], env))] == ["alice"]
    ok(["users", "create", "bob", "--password-stdin"], env, stdin="bob-long-password\n")  # the name is free again


@pytest.mark.parametrize(
    ("args", "stdin", "code", "needle"),
    [
        (["users", "show", "ghost"], None, 1, "no user named 'ghost'"),
        (["users", "disable", "ghost"], None, 1, "no user named 'ghost'"),
        (["users", "enable", "ghost"], None, 1, "no user named 'ghost'"),
        (["users", "delete", "ghost"], None, 1, "no user named 'ghost'"),
        (["users", "set-password", "ghost", "--password-stdin"], "long-enough-pw\n", 1, "no user named 'ghost'"),
        (["users", "set-password", "alice"], None, 2, "--password-stdin"),
        (["users", "set-password", "alice", "--password-stdin"], "short\n", 2, "at least 8"),
        (["users", "set-password", "alice", "--password-stdin"], "", 2, "no password"),
        (["users", "list", "--tenant", "ghost"], None, 1, "no tenant named 'ghost'"),
        (["users", "show"], None, 2, "Missing argument 'USERNAME'"),
    ],
)
def test_user_errors(env: dict[str, str], args: list[str], stdin: str | None, code: int, needle: str) -> None:
    ok(["users", "create", "alice", "--password-stdin"], env, stdin="alice-long-password\n")
    fails(args, env, code, needle, stdin=stdin)


def test_tenants_show_and_rename(env: dict[str, str]) -> None:
    ok(["tenants", "create", "acme", "--display-name", "Acme"], env)
    shown = json.loads(ok(["tenants", "show", "acme", "--json"], env))
    assert shown["display_name"] == "Acme" and shown["issuer"].endswith("/t/acme") and shown["clients"] == 0
    ok(["tenants", "settings", "acme", "--display-name", "Acme Properties"], env)
    human = ok(["tenants", "show", "acme"], env)
    assert "display name:" in human and "Acme Properties" in human
    rows = [_cells(row) for row in table(ok(["tenants", "list"], env))]
    assert rows[1][:3] == ["acme", "Acme Properties", "enabled"]


def test_unexpected_failures_name_no_exception_class(env: dict[str, str]) -> None:
    """A failure that is not one of Pixie's own (here a refused connection) is still one plain line."""
    line = fails(
        ["login", "--issuer", f"http://127.0.0.1:{free_port()}", "--client-id", "x", "--no-browser"], env, 1, ""
    )
    assert "Error:" not in line and "ConnectionError" not in line and "cannot reach" in line


# --- what disabling and deleting end, seen from a running server ---------------------------------------------------


@pytest.fixture
def live(env: dict[str, str], tmp_path: Path) -> Iterator[Pixie]:
    """``pixie serve`` on the CLI's database, with a resource server ``rs`` (to introspect), public clients
    ``app`` and ``app2`` whose tokens are meant for it, and users alice and dave."""
    _spa(env, "app", "--audience", "rs", "--scope", "properties:read")  # the last --scope counts
    _spa(env, "app2", "--audience", "rs", "--scope", "properties:read")
    ok(["clients", "create", "rs", "--secret", RS_SECRET, "--grant-type", "client_credentials"], env)
    ok(["users", "create", "alice", "--password-stdin"], env, stdin="alice-in-wonderland\n")
    ok(["users", "create", "dave", "--password-stdin"], env, stdin="dave-davidson-pw\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with pixie_process(["serve", "--port", str(port)], env, f"{base}/healthz"):
        yield Pixie(base=base, db_path=tmp_path / "manage.db")


def _tokens(browser: Browser, client_id: str) -> dict[str, str]:
    pkce = Pkce.new()
    pairs = authorize_pairs(client_id=client_id, challenge=pkce.challenge)
    code = redirect_params(browser.authorize(pairs), SPA_CB)["code"]
    response = token_request(browser.http, code, pkce.verifier, client_id=client_id)
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def _refresh(http: httpx.Client, client_id: str, token: str) -> httpx.Response:
    return http.post("/token", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id})


def _active(http: httpx.Client, token: str) -> bool:
    response = http.post("/introspect", data={"token": token}, auth=("rs", RS_SECRET))
    assert response.status_code == 200, response.text
    return bool(response.json()["active"])


def test_disabling_a_user_ends_their_sessions_and_tokens(live: Pixie, env: dict[str, str]) -> None:
    """RFC 9700 §4.14.2: revoking refresh tokens when a user's access ends; the access token is refused by
    introspection at once; the SSO session no longer signs the browser in. Enabling again brings none of it back."""
    with Browser(live) as alice, Browser(live) as dave:
        sign_in(alice, "alice", client_id="app")
        sign_in(dave, "dave", client_id="app")
        mine, theirs = _tokens(alice, "app"), _tokens(dave, "app")
        ended = json.loads(ok(["users", "disable", "alice", "--json"], env))["ended"]
        assert ended == {"refresh_families": 1, "access_tokens": 1, "sso_sessions": 1, "admin_sessions": 0}
        assert _refresh(alice.http, "app", mine["refresh_token"]).json()["error"] == "invalid_grant"
        assert not _active(alice.http, mine["access_token"])
        assert alice.authorize(authorize_pairs(client_id="app")).headers["location"].startswith("/login")
        ok(["users", "enable", "alice"], env)
        assert _refresh(alice.http, "app", mine["refresh_token"]).status_code == 400  # revoked for good
        assert alice.authorize(authorize_pairs(client_id="app")).headers["location"].startswith("/login")
        # dave is untouched
        assert _active(dave.http, theirs["access_token"])
        assert _refresh(dave.http, "app", theirs["refresh_token"]).status_code == 200


def test_deleting_a_user_and_a_client(live: Pixie, env: dict[str, str]) -> None:
    with Browser(live) as dave:
        sign_in(dave, "dave", client_id="app")
        approve_consent(dave, "app2", SPA_CB, scope="properties:read")
        by_app, by_app2 = _tokens(dave, "app"), _tokens(dave, "app2")
        ended = json.loads(ok(["clients", "delete", "app2", "--json"], env))["ended"]
        assert ended["refresh_families"] == 1 and ended["access_tokens"] == 1
        assert not _active(dave.http, by_app2["access_token"])
        assert _active(dave.http, by_app["access_token"])  # another client's tokens stay
        assert live.query("select count(*) from consents where client_id = 'app2'") == [(0,)]
        ok(["users", "delete", "dave"], env)
        assert not _active(dave.http, by_app["access_token"])
        assert _refresh(dave.http, "app", by_app["refresh_token"]).json()["error"] == "invalid_grant"
        assert live.query("select count(*) from consents") == [(0,)]


# --- PostgreSQL: the main paths ------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_main_paths_on_postgresql(tmp_path: Path, fresh_postgres_url: str) -> None:
    env = cli_env(tmp_path, fresh_postgres_url, KEY)
    _spa(env)
    ok(["users", "create", "alice", "--password-stdin"], env, stdin="alice-long-password\n")
    assert [c["client_id"] for c in json.loads(ok(["clients", "list", "--json"], env))] == ["pixie-admin", "spa"]
    renamed = json.loads(ok(["clients", "update", "spa", "--name", "Property Manager", "--json"], env))
    assert renamed["name"] == "Property Manager"
    assert json.loads(ok(["clients", "disable", "spa", "--json"], env))["ended"]["refresh_families"] == 0
    ok(["clients", "delete", "spa"], env)
    fails(["clients", "show", "spa"], env, 1, "no client 'spa'")
    assert json.loads(ok(["users", "disable", "alice", "--json"], env))["disabled"] is True
    ok(["users", "set-password", "alice", "--password-stdin"], env, stdin="another-long-password\n")
    ok(["users", "delete", "alice"], env)
    fails(["users", "show", "alice"], env, 1, "no user named 'alice'")
    ok(["tenants", "settings", "default", "--display-name", "Acme"], env)
    assert json.loads(ok(["tenants", "show", "default", "--json"], env))["display_name"] == "Acme"
