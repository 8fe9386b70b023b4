"""``pixie --help`` and short commands such as ``pixie clients list`` start fast: they import neither the server
(Starlette, uvicorn, Jinja2, the endpoints) nor SQLAlchemy and Alembic, which only creating or migrating a database
needs. Checked by what a real run loads, not by a stopwatch (timings vary with the machine; imports do not)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from livesupport import cli_env, run_pixie

HEAVY = {
    "alembic",
    "asyncpg",
    "httpx",
    "jinja2",
    "prometheus_client",
    "rich",
    "sqlalchemy",
    "starlette",
    "uvicorn",
    "pixie.server.app",
    "pixie.server.endpoints",
    "pixie.demo",
}
"""What a listing command has no use for. ``asyncpg`` is PostgreSQL's: a SQLite command never loads it."""


def _loaded_by(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    """Every module a real ``pixie ARGS`` run had loaded when it finished, and its output must have been a success."""
    script = (
        "import json, sys\n"
        "from pixie.cli.main import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit as exc:\n    code = exc.code\n"
        "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), done.stderr
    return set(report["modules"])


def _heavy(modules: set[str]) -> set[str]:
    return {name for name in modules if any(name == h or name.startswith(h + ".") for h in HEAVY)}


def test_help_imports_no_command() -> None:
    loaded = _loaded_by(["--help"])
    assert not _heavy(loaded), sorted(_heavy(loaded))
    assert not {name for name in loaded if name.startswith("pixie.cli.") and name != "pixie.cli.main"}
    assert not {"pixie.storage.interfaces", "pixie.tokens.keys", "cryptography.x509"} & loaded


@pytest.mark.parametrize("args", [["clients", "list"], ["users", "list", "--json"], ["tenants", "list"]])
def test_listing_on_a_current_database_imports_neither_server_nor_sqlalchemy(tmp_path: Path, args: list[str]) -> None:
    env = cli_env(tmp_path, f"sqlite:///{tmp_path / 'fast.db'}", {"PIXIE_SECRET_KEY": "D" * 43})
    first = run_pixie(["clients", "create", "spa", "--public", "--redirect-uri", "http://127.0.0.1/cb"], env)
    assert first.returncode == 0, first.stderr  # creates and migrates the database: that may load anything
    loaded = _loaded_by(args, env)
    assert "pixie.storage.sqlite" in loaded  # the probe does see what the command used
    assert not _heavy(loaded), sorted(_heavy(loaded))


def test_a_new_database_is_still_migrated(tmp_path: Path) -> None:
    """The other side: with no schema yet, the same command creates it, through SQLAlchemy and Alembic."""
    env = cli_env(tmp_path, f"sqlite:///{tmp_path / 'new.db'}", {"PIXIE_SECRET_KEY": "D" * 43})
    loaded = _loaded_by(["clients", "list"], env)
    assert {"sqlalchemy", "alembic"} <= loaded
    assert (tmp_path / "new.db").stat().st_mode & 0o777 == 0o600
