"""The ``pixie`` command as a user runs it: real subprocesses on a real SQLite file (ARCHITECTURE §4)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
import pytest

from livesupport import cli_env, free_port, pixie_process, run_pixie


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path, f"sqlite:///{tmp_path / 'cli.db'}", {"PIXIE_SECRET_KEY": "A" * 43})


def assert_one_line_error(result: object, code: int) -> None:
    assert result.returncode == code, result.stderr  # type: ignore[attr-defined]
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("Usage:")]
    lines = [line for line in lines if not line.startswith("Try ")]
    assert len(lines) == 1, stderr


def test_public_client_round_trip(env: dict[str, str], tmp_path: Path) -> None:
    result = run_pixie(
        ["clients", "create", "spa", "--public", "--redirect-uri", "http://127.0.0.1:5173/cb", "--scope", "a:read b"],
        env,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["client_type"] == "public" and data["token_endpoint_auth_method"] == "none"
    assert data["scope"] == "a:read b" and "client_secret" not in data

    duplicate = run_pixie(["clients", "create", "spa", "--public", "--redirect-uri", "http://127.0.0.1/cb"], env)
    assert_one_line_error(duplicate, 1)
    assert "already exists" in duplicate.stderr


def test_client_lifetimes_and_grace(env: dict[str, str]) -> None:
    """Issue 4: per-client grace window, idle timeout and absolute lifetime."""
    args = ["clients", "create", "flaky", "--public", "--redirect-uri", "http://127.0.0.1/cb"]
    result = run_pixie(
        [*args, "--refresh-grace-seconds", "30", "--refresh-idle-ttl", "3600", "--refresh-absolute-ttl", "86400"], env
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["refresh_grace_seconds"], data["refresh_idle_ttl"], data["refresh_absolute_ttl"]) == (30, 3600, 86400)
    too_long = run_pixie([*args, "--refresh-grace-seconds", "61"], env)
    assert_one_line_error(too_long, 2)
    inverted = run_pixie(
        [
            "clients",
            "create",
            "x2",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--refresh-idle-ttl",
            "100",
            "--refresh-absolute-ttl",
            "10",
        ],
        env,
    )
    assert_one_line_error(inverted, 2)


def test_generated_secret_is_shown_once_and_stored_hashed(env: dict[str, str], tmp_path: Path) -> None:
    """ARCHITECTURE §6.6: client secrets only as SHA-256 hashes."""
    result = run_pixie(["clients", "create", "svc", "--generate-secret", "--grant-type", "client_credentials"], env)
    assert result.returncode == 0, result.stderr
    secret = json.loads(result.stdout)["client_secret"]
    assert len(secret) >= 43
    assert secret.encode() not in (tmp_path / "cli.db").read_bytes()


def test_short_caller_chosen_secret_warns(env: dict[str, str]) -> None:
    result = run_pixie(
        ["clients", "create", "bench-confidential", "--secret", "bench-secret", "--grant-type", "client_credentials"],
        env,
    )
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr and "32" in result.stderr
    assert "client_secret" not in json.loads(result.stdout)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["clients", "create", "x", "--public", "--redirect-uri", "not a uri"], "absolute"),
        (["clients", "create", "x", "--public", "--redirect-uri", "http://evil.example/cb"], "https"),
        (["clients", "create", "x", "--public", "--redirect-uri", "https://a.example/cb#frag"], "fragment"),
        (["clients", "create", "x", "--public", "--secret", "abc"], "exactly one"),
        (["clients", "create", "x", "--public", "--grant-type", "client_credentials"], "public client"),
        (["clients", "create", "x", "--public", "--no-such-option"], "no-such-option"),
        (["users", "create", "bob"], "password-stdin"),
    ],
)
def test_usage_errors_exit_2(env: dict[str, str], args: list[str], needle: str) -> None:
    result = run_pixie(args, env)
    assert_one_line_error(result, 2)
    assert needle in result.stderr


def test_users_create_and_duplicate(env: dict[str, str], tmp_path: Path) -> None:
    result = run_pixie(["users", "create", "alice", "--password-stdin"], env, stdin="correct horse battery\n")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["username"] == "alice"
    with sqlite3.connect(tmp_path / "cli.db") as db:
        (stored,) = db.execute("select password_hash from users where username = 'alice'").fetchone()
    assert stored.startswith("$argon2id$")
    again = run_pixie(["users", "create", "alice", "--password-stdin"], env, stdin="another password\n")
    assert_one_line_error(again, 1)
    short = run_pixie(["users", "create", "carol", "--password-stdin"], env, stdin="short\n")
    assert_one_line_error(short, 2)


def test_keys_list_and_rotate(env: dict[str, str]) -> None:
    before = [json.loads(line) for line in run_pixie(["keys", "list"], env).stdout.splitlines()]
    assert sorted(k["state"] for k in before) == ["active", "next"]
    rotated = run_pixie(["keys", "rotate"], env)
    assert rotated.returncode == 0, rotated.stderr
    report = json.loads(rotated.stdout)
    next_kid = next(k["kid"] for k in before if k["state"] == "next")
    assert report["activated"] == next_kid
    after = {k["kid"]: k["state"] for k in map(json.loads, run_pixie(["keys", "list"], env).stdout.splitlines())}
    assert after[next_kid] == "active" and sorted(after.values()) == ["active", "next", "retiring"]


def test_db_purge_reports_counts(env: dict[str, str], tmp_path: Path) -> None:
    """Issue 4 item 6: `pixie db purge` deletes what expired and says how much."""
    assert run_pixie(["keys", "list"], env).returncode == 0  # creates the schema
    with sqlite3.connect(tmp_path / "cli.db") as db:
        db.execute(
            "insert into sso_sessions (tenant_id, session_hash, user_id, auth_time, created_at, last_seen_at, idle_ttl,"
            " absolute_expires_at) values ('default', 'h1', 'u', 0, 0, 0, 60, 10)"
        )
    result = run_pixie(["db", "purge"], env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sso_sessions"] == 1 and report["authorization_codes"] == 0
    assert json.loads(run_pixie(["db", "purge"], env).stdout)["sso_sessions"] == 0


def test_unknown_tenant_is_one_line(env: dict[str, str]) -> None:
    """A tenant that does not exist is not a usage error (it may exist later): exit 1, no usage block."""
    result = run_pixie(["keys", "list", "--tenant", "ghost"], env)
    assert_one_line_error(result, 1)
    assert result.stderr.startswith("pixie: error: no tenant named 'ghost'")


def test_tenants_create_and_list(env: dict[str, str]) -> None:
    created = run_pixie(["tenants", "create", "acme"], env)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["issuer"].endswith("/t/acme")
    assert_one_line_error(run_pixie(["tenants", "create", "acme"], env), 1)
    assert_one_line_error(run_pixie(["tenants", "create", "Bad_Name"], env), 2)
    names = [tenant["tenant"] for tenant in json.loads(run_pixie(["tenants", "list", "--json"], env).stdout)]
    assert names == ["acme", "default"]


def test_database_unreachable_is_one_line(env: dict[str, str]) -> None:
    closed_port = free_port()
    result = run_pixie(["keys", "list", "--database", f"postgresql://postgres@127.0.0.1:{closed_port}/test"], env)
    assert_one_line_error(result, 1)


def test_master_key_file_is_generated_private(tmp_path: Path) -> None:
    """Issue 3 item 6: without PIXIE_SECRET_KEY a key file is generated with mode 0600, with a warning."""
    env = cli_env(tmp_path, f"sqlite:///{tmp_path / 'k.db'}")
    result = run_pixie(["keys", "list"], env)
    assert result.returncode == 0, result.stderr
    assert "PIXIE_SECRET_KEY is not set" in result.stderr
    secret_file = tmp_path / "pixie.secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    again = run_pixie(["keys", "list"], env)
    assert again.stdout == result.stdout and "not set" not in again.stderr
    secret_file.chmod(0o644)
    assert_one_line_error(run_pixie(["keys", "list"], env), 2)


def test_serve_answers_metadata(env: dict[str, str]) -> None:
    """Done-when of the foundation: a started server answers RFC 8414 metadata."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server"
    with pixie_process(["serve", "--port", str(port)], env, url):
        document = httpx.get(url).json()
    assert document["issuer"] == f"http://127.0.0.1:{port}"
    assert document["code_challenge_methods_supported"] == ["S256"]


def test_demo_seeds_client_and_users(env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server"
    with pixie_process(["demo", "--port", str(port)], env, url):
        assert httpx.get(url).json()["issuer"] == f"http://127.0.0.1:{port}"
        assert httpx.get(f"http://127.0.0.1:{port}/api/properties").status_code == 401  # the API is served too
    with sqlite3.connect(tmp_path / "cli.db") as db:
        assert db.execute("select name from clients where client_id = 'pixie-demo-spa'").fetchone() == (
            "Property Manager",
        )
        # Names people read on the sign-in pages: the demo names its organisation; the dashboard's client is named.
        assert db.execute("select display_name from tenants").fetchall() == [("Pixie Demo Properties",)]
        assert db.execute("select name from clients where client_id = 'pixie-admin'").fetchone() == (
            "Pixie administration",
        )
        users = db.execute("select username from users where username in ('alice', 'bob') order by 1").fetchall()
        assert users == [("alice",), ("bob",)]
    assert (tmp_path / "cli-demo.db").exists()  # the demo's own data, beside the Pixie database
