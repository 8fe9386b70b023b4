"""Database URLs, read without SQLAlchemy: every command and every server start reads one, and importing SQLAlchemy
just for that would cost more than the rest of a short command (``tests/storage/test_urls.py`` holds these to
SQLAlchemy's reading)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

__all__ = ["libpq_dsn", "normalize_url", "sqlite_file"]

_SCHEMES = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def normalize_url(url: str) -> str:
    """The async-driver form of a database URL: ``sqlite:///pixie.db`` → ``sqlite+aiosqlite:///pixie.db``,
    ``postgresql://`` or ``postgres://`` → ``postgresql+asyncpg://``. Raises :class:`ValueError` otherwise."""
    scheme, separator, rest = url.partition("://")
    driver = _SCHEMES.get(scheme.lower()) if separator else None
    if driver is None:
        # Name only the scheme: the rest of a URL may hold a password.
        shown = f"scheme {scheme!r}" if separator else "(no scheme)"
        raise ValueError(
            f"unsupported database URL {shown}: use sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
        )
    return f"{driver}://{rest}"


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite database URL names (``sqlite:///data/pixie.db`` → ``data/pixie.db``, percent-decoded), or
    None for any other URL, an in-memory database or a URL that does not parse."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower().split("+")[0] != "sqlite":
        return None
    location = rest.partition("?")[0]
    _, slash, database = location.partition("/")
    database = unquote(database) if slash else ""
    if not database or database == ":memory:":
        return None
    return Path(database)


def libpq_dsn(url: str) -> str:
    """A PostgreSQL URL as libpq and asyncpg read it (``postgresql://``), whatever driver it named."""
    return "postgresql://" + normalize_url(url).partition("://")[2]
