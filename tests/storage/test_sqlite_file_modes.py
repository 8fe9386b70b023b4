"""The SQLite database Pixie creates is private: the database file and its ``-wal`` and ``-shm`` files are mode
0600 whatever the umask, whether the schema migration or the driver creates the file; an existing file keeps the
mode its owner gave it.

Why: the file holds client-secret and token hashes, password hashes and sealed signing keys (ARCHITECTURE §6.6).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from livesupport import cli_env, run_pixie
from pixie.storage.records import Tenant
from pixie.storage.schema import open_storage
from pixie.storage.sqlite import open_sqlite_storage


@pytest.fixture
def lax_umask() -> Iterator[None]:
    """The usual umask (group and others may read what is created), for the length of the test."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _files(db: Path) -> list[Path]:
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


async def _write_through_open_storage(db: Path) -> list[int]:
    """Migrate a new file, write a row, and read the modes while the connections are open (WAL and SHM exist)."""
    async with open_storage(f"sqlite:///{db}") as storage:
        await storage.tenants.create(Tenant(id="modes", display_name="Modes", created_at=time.time()))
        return [_mode(path) for path in _files(db)]


def test_open_storage_creates_private_files(tmp_path: Path, lax_umask: None) -> None:
    db = tmp_path / "pixie.db"
    assert asyncio.run(_write_through_open_storage(db)) == [0o600, 0o600, 0o600]
    assert _mode(db) == 0o600


def test_the_driver_creates_a_private_file(tmp_path: Path, lax_umask: None) -> None:
    db = tmp_path / "driver.db"

    async def touch() -> None:
        with open_sqlite_storage(str(db)) as storage:
            await storage.tenants.list()  # the first call opens the connection (no tables: nothing to list)

    with contextlib.suppress(sqlite3.OperationalError):  # an unmigrated file has no tables: only its mode matters here
        asyncio.run(touch())
    assert db.exists() and _mode(db) == 0o600


def test_an_existing_file_keeps_its_mode(tmp_path: Path, lax_umask: None) -> None:
    db = tmp_path / "shared.db"
    db.touch()
    db.chmod(0o640)  # its owner's choice, e.g. a backup group that reads it
    asyncio.run(_write_through_open_storage(db))
    assert _mode(db) == 0o640


def test_a_missing_directory_is_still_a_one_line_error(tmp_path: Path) -> None:
    """The file cannot be created first: SQLite still reports it, as before, in one line."""
    env = cli_env(tmp_path, f"sqlite:///{tmp_path / 'missing' / 'pixie.db'}")
    result = run_pixie(["keys", "list"], env)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "unable to open database file" in errors[0], result.stderr
    assert not (tmp_path / "missing").exists()
