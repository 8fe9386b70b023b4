"""``pixie tenants`` as a user runs it (real subprocesses, a real SQLite file), and bulk creation on both backends.

ARCHITECTURE §4: exit 0 on success, 2 for a usage error, 1 otherwise, always a one-line message.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from livesupport import cli_env, run_pixie
from pixie.management import InvalidRegistration, create_tenants
from pixie.storage.interfaces import AlreadyExists, Storage
from pixie.storage.records import Tenant
from pixie.tokens.keys import KeyRing
from pixie.types import KeyState


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path, f"sqlite:///{tmp_path / 'tenants.db'}", {"PIXIE_SECRET_KEY": "B" * 43})


def _ok(args: list[str], env: dict[str, str]) -> str:
    result = run_pixie(args, env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _fails(args: list[str], env: dict[str, str], code: int, needle: str) -> None:
    result = run_pixie(args, env)
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and needle in result.stderr, result.stderr


def test_create_several_names_and_list(env: dict[str, str]) -> None:
    lines = [json.loads(line) for line in _ok(["tenants", "create", "north", "south", "east"], env).splitlines()]
    assert [line["tenant"] for line in lines] == ["north", "south", "east"]
    assert all(line["issuer"].endswith(f"/t/{line['tenant']}") for line in lines)
    listed = json.loads(_ok(["tenants", "list", "--json"], env))
    assert [t["tenant"] for t in listed] == ["default", "east", "north", "south"]
    assert listed[1]["settings"]["brand_color"] == "#4f46e5" and "webhooks" not in listed[1]["settings"]
    table = _ok(["tenants", "list"], env).splitlines()
    assert table[0].split() == ["TENANT", "DISPLAY", "NAME", "STATUS", "ISSUER"]
    assert [line.split()[0] for line in table[1:]] == ["default", "east", "north", "south"]


def test_count_and_prefix_with_a_progress_bar(env: dict[str, str]) -> None:
    """More than a handful of tenants: a progress bar on stderr, JSON lines on stdout, each with its keys."""
    result = run_pixie(["tenants", "create", "--count", "120", "--prefix", "shop-"], env)
    assert result.returncode == 0, result.stderr
    names = [json.loads(line)["tenant"] for line in result.stdout.splitlines()]
    assert names[0] == "shop-001" and names[-1] == "shop-120" and len(names) == 120
    assert "120/120" in result.stderr
    keys = [json.loads(line) for line in _ok(["keys", "list", "--tenant", "shop-077"], env).splitlines()]
    assert sorted(k["state"] for k in keys) == ["active", "next"]
    assert "120/120" not in run_pixie(["tenants", "create", "solo"], env).stderr  # one tenant: no bar


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["tenants", "create", "north", "Bad_Name"], 2, "lowercase"),
        (["tenants", "create", "x", "x"], 2, "named twice"),
        (["tenants", "create", "--count", "3"], 2, "--prefix"),
        (["tenants", "create", "a1", "--count", "3", "--prefix", "p-"], 2, "not both"),
        (["tenants", "create"], 2, "at least one"),
        (["tenants", "disable", "ghost"], 1, "no tenant named"),
        (["tenants", "disable", "default"], 2, "cannot be disabled"),
        (["tenants", "settings", "ghost"], 1, "no tenant named"),
        (["tenants", "show", "ghost"], 1, "no tenant named"),
        (["tenants", "settings", "default", "--display-name", " "], 2, "display name"),
    ],
)
def test_errors(env: dict[str, str], args: list[str], code: int, needle: str) -> None:
    _fails(args, env, code, needle)


def test_existing_name_in_a_batch_creates_none(env: dict[str, str]) -> None:
    _ok(["tenants", "create", "taken"], env)
    _fails(["tenants", "create", "new-1", "taken", "new-2"], env, 1, "'taken' already exists")
    assert "new-1" not in _ok(["tenants", "list"], env)


def test_disable_enable_and_settings(env: dict[str, str]) -> None:
    _ok(["tenants", "create", "acme"], env)
    assert json.loads(_ok(["tenants", "disable", "acme"], env)) == {"tenant": "acme", "disabled": True}
    assert json.loads(_ok(["tenants", "enable", "acme"], env)) == {"tenant": "acme", "disabled": False}
    changed = json.loads(
        _ok(
            [
                "tenants",
                "settings",
                "acme",
                "--access-token-ttl",
                "900",
                "--refresh-grace",
                "20",
                "--grant-type",
                "authorization_code",
                "--grant-type",
                "refresh_token",
                "--login-title",
                "Acme staff",
                "--brand-color",
                "#0F766E",
            ],
            env,
        )
    )
    settings = changed["settings"]
    assert (settings["access_token_ttl"], settings["refresh_grace_seconds"]) == (900, 20)
    assert settings["allowed_grant_types"] == ["authorization_code", "refresh_token"]
    assert (settings["login_title"], settings["brand_color"]) == ("Acme staff", "#0f766e")
    assert json.loads(_ok(["tenants", "settings", "acme"], env))["settings"] == settings  # no options: show
    # The tenant's grace window is the default of clients registered afterwards.
    client = _ok(
        ["clients", "create", "spa", "--tenant", "acme", "--public", "--redirect-uri", "http://127.0.0.1/cb"], env
    )
    assert json.loads(client)["refresh_grace_seconds"] == 20


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [
        ("--brand-color", "red", "hex colour"),
        ("--brand-color", "#12345", "hex colour"),
        ("--access-token-ttl", "5", "30<=x<=86400"),
        ("--refresh-grace", "61", "0<=x<=60"),
        ("--grant-type", "implicit", "implicit"),
        ("--login-title", " ", "login_title"),
        ("--refresh-idle-ttl", "31536000", "cannot exceed"),
    ],
)
def test_settings_are_validated(env: dict[str, str], option: str, value: str, needle: str) -> None:
    _ok(["tenants", "create", "acme"], env)
    _fails(["tenants", "settings", "acme", option, value], env, 2, needle)


# --- bulk creation on both backends ------------------------------------------------------------------------------


async def test_bulk_creation_writes_tenants_with_keys_in_batches(storage: Storage) -> None:
    keyring = KeyRing(storage.keys, b"k" * 32)
    done: list[int] = []
    started = time.perf_counter()
    created = await create_tenants(
        storage, keyring, [f"b{i:04d}" for i in range(600)], batch_size=250, progress=done.append
    )
    elapsed = time.perf_counter() - started
    assert done == [250, 250, 100] and len(created) == 600
    assert len(await storage.tenants.list()) == 600
    keys = await storage.keys.list("b0599")
    assert sorted(k.state for k in keys) == [KeyState.ACTIVE, KeyState.NEXT]
    signer = await keyring.signer("b0599")
    assert signer.kid in {k.kid for k in keys if k.state is KeyState.ACTIVE}
    assert (await keyring.jwks("b0001"))["keys"] != (await keyring.jwks("b0002"))["keys"]
    assert elapsed < 20, f"600 tenants took {elapsed:.1f} s"


async def test_bulk_creation_is_all_or_nothing_per_batch(storage: Storage) -> None:
    keyring = KeyRing(storage.keys, b"k" * 32)
    await create_tenants(storage, keyring, ["taken"])
    with pytest.raises(AlreadyExists, match="taken"):
        await create_tenants(storage, keyring, ["fresh-1", "taken"])
    with pytest.raises(InvalidRegistration, match="twice"):
        await create_tenants(storage, keyring, ["dup", "dup"])
    assert [t.id for t in await storage.tenants.list()] == ["taken"]
    assert await storage.keys.list("fresh-1") == []


async def test_create_many_refuses_the_whole_batch_on_a_clash(storage: Storage) -> None:
    """The storage contract behind it: a clash anywhere in the batch writes nothing (two creators racing)."""
    keyring = KeyRing(storage.keys, b"k" * 32)
    await create_tenants(storage, keyring, ["taken"])
    batch = [Tenant(id=name, display_name=name, created_at=1.0) for name in ("fresh-a", "taken", "fresh-b")]
    keys = [key for tenant in batch for key in keyring.first_keys(tenant.id)]
    with pytest.raises(AlreadyExists):
        await storage.tenants.create_many(batch, keys)
    assert [t.id for t in await storage.tenants.list()] == ["taken"]
    assert await storage.keys.list("fresh-a") == []
