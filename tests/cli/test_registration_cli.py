"""``pixie tenants settings --registration …`` and ``pixie registration-tokens create|list|revoke``, as a user runs
them (real subprocesses on a real SQLite file), then the token used at a real server's ``/register``.

Spec: RFC 7591 §3 (initial access token).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import httpx

from livesupport import cli_env, free_port, pixie_process, run_pixie

KEY = {"PIXIE_SECRET_KEY": "C" * 43}


def _ok(args: list[str], env: dict[str, str]) -> str:
    result = run_pixie(args, env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_registration_policy_and_tokens(tmp_path: Path) -> None:
    db = tmp_path / "reg.db"
    env = cli_env(tmp_path, f"sqlite:///{db}", KEY)
    _ok(["tenants", "create", "acme"], env)
    shown = json.loads(_ok(["tenants", "settings", "acme"], env))
    assert shown["settings"]["registration"] == "off"
    changed = json.loads(
        _ok(["tenants", "settings", "acme", "--registration", "token", "--registration-scopes", "mcp:tools"], env)
    )
    assert changed["settings"]["registration"] == "token"
    assert changed["settings"]["registration_scopes"] == ["mcp:tools"]
    bad = run_pixie(["tenants", "settings", "acme", "--registration", "sometimes"], env)
    assert bad.returncode == 2 and "pixie: error:" in bad.stderr

    made = json.loads(_ok(["registration-tokens", "create", "--tenant", "acme", "--expires-in", "3600"], env))
    token, token_id = made["token"], made["token_id"]
    assert token.startswith(token_id + ".") and made["expires_at"] > made["created_at"]
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT token_hash FROM registration_tokens WHERE token_id = ?", (token_id,)).fetchone()
    assert stored == (hashlib.sha256(token.encode()).hexdigest(),)  # hashed at rest
    listed = json.loads(_ok(["registration-tokens", "list", "--tenant", "acme"], env))
    assert [t["token_id"] for t in listed] == [token_id] and "token" not in listed[0]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with pixie_process(["serve", "--port", str(port), "--issuer", base], env, f"{base}/healthz"):
        answer = httpx.post(
            f"{base}/t/acme/register",
            json={"redirect_uris": ["http://127.0.0.1/cb"], "scope": "mcp:tools", "token_endpoint_auth_method": "none"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 201, answer.text
        _ok(["registration-tokens", "revoke", token_id, "--tenant", "acme"], env)
        again = httpx.post(
            f"{base}/t/acme/register",
            json={"redirect_uris": ["http://127.0.0.1/cb"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert again.status_code == 401 and again.json()["error"] == "invalid_token"
    missing = run_pixie(["registration-tokens", "revoke", token_id, "--tenant", "acme"], env)
    assert missing.returncode == 1 and "pixie: error:" in missing.stderr
