"""User profiles and OpenID Connect client metadata, as a user registers them: ``pixie users create/update`` with
profile flags, ``pixie clients create --post-logout-redirect-uri --id-token-alg`` (real subprocesses, real SQLite).

Spec: OpenID Connect Core 1.0 §5.1 (standard claims); RP-Initiated Logout 1.0 §3.1 (``post_logout_redirect_uris``);
OpenID Connect Registration 1.0 §2 (``id_token_signed_response_alg``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livesupport import cli_env, run_pixie


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path, f"sqlite:///{tmp_path / 'oidc.db'}", {"PIXIE_SECRET_KEY": "B" * 43})


def test_user_profile_is_created_and_updated(env: dict[str, str]) -> None:
    created = run_pixie(
        [
            "users",
            "create",
            "alice",
            "--password-stdin",
            "--name",
            "Alice Smith",
            "--given-name",
            "Alice",
            "--family-name",
            "Smith",
            "--email",
            "alice@example.com",
            "--email-verified",
        ],
        env,
        stdin="a-long-enough-password\n",
    )
    assert created.returncode == 0, created.stderr
    data = json.loads(created.stdout)
    assert (data["name"], data["given_name"], data["family_name"]) == ("Alice Smith", "Alice", "Smith")
    assert (data["email"], data["email_verified"]) == ("alice@example.com", True)

    updated = run_pixie(["users", "update", "alice", "--email", "a.smith@example.com", "--email-unverified"], env)
    assert updated.returncode == 0, updated.stderr
    data = json.loads(updated.stdout)
    assert (data["email"], data["email_verified"], data["name"]) == ("a.smith@example.com", False, "Alice Smith")

    cleared = run_pixie(["users", "update", "alice", "--given-name", ""], env)
    assert json.loads(cleared.stdout)["given_name"] is None


def test_bad_profile_input_is_a_usage_error(env: dict[str, str]) -> None:
    bad = run_pixie(
        ["users", "create", "bob", "--password-stdin", "--email", "not-an-address"], env, stdin="pw-12345678\n"
    )
    assert bad.returncode == 2 and "not an email address" in bad.stderr and "Traceback" not in bad.stderr
    missing = run_pixie(["users", "update", "nobody", "--name", "X"], env)
    assert missing.returncode == 1 and "no user named" in missing.stderr


def test_client_logout_uris_and_id_token_alg(env: dict[str, str]) -> None:
    result = run_pixie(
        [
            "clients",
            "create",
            "rp",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1:7000/cb",
            "--post-logout-redirect-uri",
            "http://127.0.0.1:7000/bye",
            "--post-logout-redirect-uri",
            "https://rp.example/logged-out",
            "--id-token-alg",
            "RS256",
        ],
        env,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["post_logout_redirect_uris"] == ["http://127.0.0.1:7000/bye", "https://rp.example/logged-out"]
    assert data["id_token_signed_response_alg"] == "RS256"
    keys = [json.loads(line) for line in run_pixie(["keys", "list"], env).stdout.splitlines()]
    # The RS256 line is published (active and next) at registration, before any ID token needs it.
    assert sorted(k["state"] for k in keys if k["alg"] == "RS256") == ["active", "next"]

    base = ["clients", "create", "rp2", "--public", "--redirect-uri", "http://127.0.0.1/cb"]
    bad_uri = run_pixie([*base, "--post-logout-redirect-uri", "http://rp.example/bye"], env)
    assert bad_uri.returncode == 2 and "https" in bad_uri.stderr
    bad_alg = run_pixie([*base, "--id-token-alg", "HS256"], env)
    assert bad_alg.returncode == 2
