"""Reading database URLs and the newest schema revision without SQLAlchemy or Alembic gives what they give, and a
database at that revision is opened without them (``pixie.storage.schema.urls``, ``.revisions``, ``.opening``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from pixie.storage.schema.migrate import alembic_config
from pixie.storage.schema.opening import schema_is_current
from pixie.storage.schema.revisions import head_revision
from pixie.storage.schema.urls import libpq_dsn, normalize_url, sqlite_file

URLS = [
    "sqlite:///pixie.db",
    "sqlite:////var/lib/pixie/pixie.db",
    "sqlite:///data/dir/x.db",
    "sqlite:///a%20b.db",
    "sqlite:///x.db?mode=ro",
    "sqlite+aiosqlite:///y.db",
    "sqlite://",
    "sqlite:///:memory:",
    "postgresql://u@h/d",
    "postgres://u:p%40ss@h:5433/d",
]


@pytest.mark.parametrize("url", URLS)
def test_sqlite_file_reads_as_sqlalchemy_does(url: str) -> None:
    parsed = make_url(url)
    expected = None
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        expected = Path(parsed.database)
    assert sqlite_file(url) == expected


def test_scheme_case_is_ignored() -> None:
    """As :func:`normalize_url` ignores it (SQLAlchemy would not find the file of ``SQLITE:///``)."""
    assert sqlite_file("SQLITE:///upper.db") == Path("upper.db")


def test_postgresql_urls_for_libpq() -> None:
    assert (
        libpq_dsn("postgresql+asyncpg://u:p%40ss@h:5433/d?ssl=require") == "postgresql://u:p%40ss@h:5433/d?ssl=require"
    )
    assert libpq_dsn("postgres://u@h/d") == "postgresql://u@h/d"
    assert normalize_url("postgres://u@h/d") == "postgresql+asyncpg://u@h/d"
    with pytest.raises(ValueError, match="unsupported database URL scheme 'mysql'"):
        normalize_url("mysql://root:secret@h/d")


def test_head_revision_is_alembics() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_a_current_database_is_recognised(sqlite_url: str, tmp_path: Path) -> None:
    assert await schema_is_current(sqlite_url)
    assert not await schema_is_current(f"sqlite:///{tmp_path / 'missing.db'}")
    assert not (tmp_path / "missing.db").exists()  # looking never creates a file
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert not await schema_is_current(f"sqlite:///{empty}")


@pytest.mark.postgres
async def test_a_current_postgresql_database_is_recognised(postgres_url: str, empty_database_url: str) -> None:
    assert await schema_is_current(postgres_url)
    if empty_database_url.startswith("postgresql"):
        assert not await schema_is_current(empty_database_url)
