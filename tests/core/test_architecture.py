"""Layering (ARCHITECTURE §2): core and protocol modules never import a framework, HTTP client or database driver."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "pixie"
FORBIDDEN = ("starlette", "httpx", "sqlalchemy", "fastapi", "uvicorn", "asyncpg", "aiosqlite", "alembic", "jinja2")

# Core and protocol layers, as files or packages under src/pixie (edges are everything else).
CORE = ["pkce.py", "errors.py", "scopes.py", "security.py", "types.py", "config.py", "passwords.py"]
PROTOCOL = [
    "tenancy.py",
    "management.py",
    "housekeeping.py",
    "events.py",
    "tokens",
    "server/grants",
    "client/flows.py",
    "resource/verifier.py",
    "storage/interfaces.py",
    "storage/records.py",
    "storage/cache.py",
]


def _modules(entries: list[str]) -> list[Path]:
    files: list[Path] = []
    for entry in entries:
        path = SRC / entry
        if path.is_dir():
            files.extend(sorted(path.rglob("*.py")))
        elif path.exists():
            files.append(path)
    return files


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", _modules(CORE + PROTOCOL), ids=lambda p: str(p.relative_to(SRC)))
def test_no_framework_imports(path: Path) -> None:
    bad = _imported_roots(path) & set(FORBIDDEN)
    assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}; keep frameworks at the edges"


def test_the_check_sees_modules() -> None:
    """Guard the guard: the lists above must keep matching real files."""
    assert len(_modules(CORE)) == len(CORE)
    assert len(_modules(PROTOCOL)) >= 5


def test_detector_catches_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom sqlalchemy import select\nimport httpx.auth\n")
    assert _imported_roots(sample) & set(FORBIDDEN) == {"sqlalchemy", "httpx"}
