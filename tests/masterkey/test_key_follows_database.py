"""The master key follows the database, and a wrong key never serves (ARCHITECTURE §4, §6.6).

Signing keys are sealed at rest under the master key. A command that finds another key must say so in one line and
stop — before this, ``pixie clients create`` in one directory and ``pixie serve`` in another each generated a
``./pixie.secret`` of their own, and the server started only to answer every token request with a 500.
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest
import uvicorn
from uvicorn.config import STARTUP_FAILURE

from livesupport import free_port, run_coroutine
from masterkey.support import (
    bare_env,
    client_credentials,
    create_service_client,
    key_text,
    one_line_error,
    pixie,
    serving,
)
from pixie.config import MasterKeyMismatch, Settings
from pixie.security import key_fingerprint
from pixie.server.app import create_app, open_backend
from pixie.storage.schema import open_storage


def _database(tmp_path: Path) -> tuple[Path, str]:
    data = tmp_path / "data"
    data.mkdir()
    return data / "pixie.db", f"sqlite:///{data / 'pixie.db'}"


def _sealed_by(database: Path) -> set[str | None]:
    with sqlite3.connect(database) as db:
        return {row[0] for row in db.execute("SELECT sealed_by FROM signing_keys")}


def test_commands_in_two_directories_share_the_key_beside_the_database(tmp_path: Path) -> None:
    """A SQLite database keeps its key in the file beside it (``pixie.db`` → ``pixie.secret``, mode 0600), whatever
    the working directory; the server started elsewhere opens the keys the first command sealed."""
    database, url = _database(tmp_path)
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    env = bare_env(url)

    create_service_client(env, first)
    key_file = database.with_name("pixie.secret")
    assert key_file.stat().st_mode & 0o777 == 0o600
    with serving(["serve"], env, second, free_port()) as base:
        issued = client_credentials(base)
        assert issued.status_code == 200, issued.text
        assert issued.json()["token_type"] == "Bearer"

    assert not (first / "pixie.secret").exists() and not (second / "pixie.secret").exists()
    assert _sealed_by(database) == {key_fingerprint(_decode(key_file.read_text().strip()))}


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize("source", ["env", "file"])
@pytest.mark.parametrize("command", [["keys", "list"], ["serve"], ["demo"]], ids=["keys-list", "serve", "demo"])
def test_a_wrong_key_stops_the_command_in_one_line(tmp_path: Path, source: str, command: list[str]) -> None:
    """Exit 1 with one line that names where the key came from and both fingerprints, never a key; nothing is
    served (``serve`` and ``demo`` stop before their banner and before listening)."""
    database, url = _database(tmp_path)
    right, wrong = secrets.token_bytes(32), secrets.token_bytes(32)
    create_service_client(bare_env(url, {"PIXIE_SECRET_KEY": key_text(right)}), tmp_path)
    if source == "env":
        env, named = bare_env(url, {"PIXIE_SECRET_KEY": key_text(wrong)}), "PIXIE_SECRET_KEY"
    else:
        key_file = tmp_path / "other.secret"
        key_file.write_text(key_text(wrong) + "\n")
        key_file.chmod(0o600)
        env, named = bare_env(url, {"PIXIE_SECRET_FILE": str(key_file)}), str(key_file)

    port = free_port()
    args = [*command, "--port", str(port)] if command[0] in ("serve", "demo") else command
    line = one_line_error(pixie(args, env, tmp_path, timeout=30), 1)

    assert named in line
    assert key_fingerprint(wrong) in line and key_fingerprint(right) in line
    for key in (right, wrong):
        assert key_text(key) not in line and key_text(key).rstrip("=") not in line
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    assert _sealed_by(database) == {key_fingerprint(right)}, "nothing was stored under the wrong key"


def test_the_server_lifespan_refuses_a_wrong_key(tmp_path: Path) -> None:
    """``create_app``'s lifespan (what ``pixie serve``'s workers and any ASGI host run) applies the same check:
    the application never starts serving."""
    _, url = _database(tmp_path)
    right, wrong = secrets.token_bytes(32), secrets.token_bytes(32)

    async def seal() -> None:
        async with open_backend(Settings(database_url=url, master_key=right)):
            pass

    run_coroutine(seal())
    settings = Settings(database_url=url, master_key=wrong)

    async def reopen() -> None:
        async with open_backend(settings):
            pass

    with pytest.raises(MasterKeyMismatch, match=key_fingerprint(wrong)):
        run_coroutine(reopen())

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="critical", lifespan="on"))
    exits: list[object] = []

    def run() -> None:
        try:
            server.run()
        except SystemExit as exc:  # uvicorn's way of saying the application did not start
            exits.append(exc.code)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive() and exits == [STARTUP_FAILURE] and not server.started
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


async def test_keys_from_before_fingerprints_get_theirs_recorded(database_url: str) -> None:
    """A database whose keys were sealed before fingerprints were recorded (``sealed_by`` NULL) is checked by
    opening its keys: with the key that sealed them their fingerprint is recorded; with another, the command stops
    as for any mismatch."""
    right, wrong = secrets.token_bytes(32), secrets.token_bytes(32)
    async with open_backend(Settings(database_url=database_url, master_key=right)):
        pass

    async def forget_fingerprints() -> None:
        async with open_storage(database_url) as storage:
            keys = await storage.keys.list_all()
            assert keys and {k.sealed_by for k in keys} == {key_fingerprint(right)}
            await storage.keys.reseal([dataclasses.replace(k, sealed_by=None) for k in keys])
            assert await storage.keys.fingerprints() == {None: len(keys)}

    await forget_fingerprints()
    with pytest.raises(MasterKeyMismatch, match=f"{key_fingerprint(wrong)}.*never recorded"):
        async with open_backend(Settings(database_url=database_url, master_key=wrong)):
            pass
    async with open_backend(Settings(database_url=database_url, master_key=right)) as (storage, _):
        keys = await storage.keys.list_all()
        assert await storage.keys.fingerprints() == {key_fingerprint(right): len(keys)}


@pytest.mark.postgres
def test_postgresql_without_a_key_is_one_line(fresh_postgres_url: str, tmp_path: Path) -> None:
    """PostgreSQL has no file to keep a key beside: without ``PIXIE_SECRET_KEY`` or ``--secret-file`` the command
    says so in one line, and writes no key file anywhere."""
    url = fresh_postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    line = one_line_error(pixie(["keys", "list"], bare_env(url), tmp_path), 2)
    assert "PIXIE_SECRET_KEY" in line and "--secret-file" in line
    assert list(tmp_path.iterdir()) == []

    key_file = tmp_path / "pg.secret"
    created = pixie(["keys", "list", "--secret-file", str(key_file)], bare_env(url), tmp_path)
    assert created.returncode == 0, created.stderr
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_a_missing_key_file_is_never_replaced_for_a_sealed_database(tmp_path: Path) -> None:
    """When the key file of a database that holds sealed keys is gone, no new one is written (it could open
    nothing, and would hide the loss): ``pixie serve`` stops in one line naming the file and the fingerprint."""
    database, url = _database(tmp_path)
    env = bare_env(url)
    create_service_client(env, tmp_path)
    key_file = database.with_name("pixie.secret")
    fingerprint = key_fingerprint(_decode(key_file.read_text().strip()))
    key_file.unlink()

    line = one_line_error(pixie(["serve", "--port", str(free_port())], env, tmp_path, timeout=30), 1)
    assert str(key_file) in line and fingerprint in line
    assert not key_file.exists() and not (tmp_path / "pixie.secret").exists()


async def test_nothing_starts_when_the_active_key_cannot_be_opened(database_url: str) -> None:
    """Beyond the fingerprints, the default tenant's active key is opened as a token request would open it: a key
    that the recorded master key cannot open (altered at rest) stops start-up instead of failing every request."""
    right = secrets.token_bytes(32)
    settings = Settings(database_url=database_url, master_key=right)
    async with open_backend(settings) as (storage, _):
        (active,) = [key for key in await storage.keys.list("default") if key.state.value == "active"]
        altered = bytes([active.private_key_encrypted[0] ^ 1]) + active.private_key_encrypted[1:]
        await storage.keys.reseal([dataclasses.replace(active, private_key_encrypted=altered)])

    with pytest.raises(MasterKeyMismatch, match=f"{key_fingerprint(right)}.*active signing key of tenant 'default'"):
        async with open_backend(settings):
            pass
