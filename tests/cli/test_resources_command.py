"""``pixie resources create|list|show|update|delete`` as a user runs them: real subprocesses on a real SQLite file.

ARCHITECTURE §4: exit 0 on success, 2 for input that can never work, 1 for the rest, always one
``pixie: error: …`` line. Spec: RFC 8707 §2 (an identifier is an absolute URI without fragment).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.test_manage import KEY, fails, ok, table
from livesupport import cli_env

API = "https://api.example/v1"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path, f"sqlite:///{tmp_path / 'resources.db'}", KEY)


def test_create_list_show_update_delete(env: dict[str, str]) -> None:
    create = ["resources", "create", API, "--name", "Orders", "--scope", "orders:read orders:write"]
    created = json.loads(ok([*create, "--access-token-ttl", "120", "--json"], env))
    assert created | {"created_at": None} == {
        "tenant": "default",
        "resource": API,
        "name": "Orders",
        "scope": "orders:read orders:write",
        "access_token_ttl": 120,
        "created_at": None,
    }
    ok(["resources", "create", "urn:example:billing"], env)
    rows = table(ok(["resources", "list"], env))
    assert [cell.strip() for cell in rows[0]] == ["RESOURCE", "NAME", "SCOPE", "TOKEN TTL"]
    assert [row[0].strip() for row in rows[1:]] == [API, "urn:example:billing"]
    human = ok(["resources", "show", API], env)
    assert "orders:read orders:write" in human and "120 s" in human
    assert "any scope of the client" in ok(["resources", "show", "urn:example:billing"], env)

    changed = json.loads(
        ok(["resources", "update", API, "--scope", "orders:read", "--no-access-token-ttl", "--json"], env)
    )
    assert changed["scope"] == "orders:read" and changed["access_token_ttl"] is None and changed["name"] == "Orders"
    assert json.loads(ok(["resources", "show", API, "--json"], env)) == changed
    assert "deleted" in ok(["resources", "delete", API], env)
    assert [r["resource"] for r in json.loads(ok(["resources", "list", "--json"], env))] == ["urn:example:billing"]


def test_refusals(env: dict[str, str]) -> None:
    ok(["resources", "create", API], env)
    fails(["resources", "create", API], env, 1, "already exists")
    fails(["resources", "create", "https://api.example/#top"], env, 2, "fragment")
    fails(["resources", "create", "api.example/v1"], env, 2, "absolute URI")
    fails(["resources", "create", "https://x.example/", "--scope", 'a"b'], env, 2, "scope")
    fails(["resources", "create", "https://x.example/", "--access-token-ttl", "0"], env, 2, "access-token-ttl")
    fails(["resources", "show", "https://nope.example/"], env, 1, "no resource")
    fails(["resources", "delete", "https://nope.example/"], env, 1, "no resource")
    fails(["resources", "update", API], env, 2, "nothing to change")
    fails(["resources", "list", "--tenant", "nope"], env, 1, "no tenant named")
    assert "no resources" in ok(["resources", "list", "--tenant", "default"], cli_env_empty(env))


def cli_env_empty(env: dict[str, str]) -> dict[str, str]:
    """The same environment on another, empty database."""
    url = env["PIXIE_DATABASE_URL"].replace("resources.db", "empty.db")
    return env | {"PIXIE_DATABASE_URL": url}
