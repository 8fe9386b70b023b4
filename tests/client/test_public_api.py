"""``pixie.client``'s public surface (STYLE item 9) and its layering (ARCHITECTURE §2: the protocol core imports no
HTTP library; only the edges sync/aio/auth/loopback do)."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import pixie.client

CLIENT = Path(pixie.client.__file__).parent
MODULES = ["aio", "auth", "discovery", "errors", "flows", "loopback", "models", "sync", "tokens"]
SANS_IO = ["discovery.py", "errors.py", "flows.py", "models.py", "oidc.py", "tokens.py"]
HTTP_AND_FRAMEWORKS = {"httpx", "starlette", "uvicorn", "h11", "httpcore", "requests", "aiohttp", "http"}


def test_package_all_is_sorted_and_exact() -> None:
    """Exactly the public names the package offers: every class and function it re-exports, nothing else."""
    exported = list(pixie.client.__all__)
    assert exported == sorted(exported)
    public = {
        name
        for name in dir(pixie.client)
        if not name.startswith("_")
        and not inspect.ismodule(getattr(pixie.client, name))
        and name not in {"annotations", "TYPE_CHECKING"}
    }
    assert set(exported) == public


@pytest.mark.parametrize("name", MODULES)
def test_module_all_lists_its_own_definitions(name: str) -> None:
    module = importlib.import_module(f"pixie.client.{name}")
    exported = list(module.__all__)
    assert exported == sorted(exported), f"{name}.__all__ is not sorted"
    defined = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    }
    assert defined <= set(exported), f"{name} defines public names it does not export: {defined - set(exported)}"
    assert all(hasattr(module, attr) for attr in exported)


def _imports(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
            if node.module.startswith("pixie.client."):
                roots.add(node.module)
    return roots


@pytest.mark.parametrize("module", SANS_IO)
def test_protocol_core_is_sans_io(module: str) -> None:
    """flows, discovery, errors, models and tokens never import an HTTP library, nor the client's edges."""
    imported = _imports(CLIENT / module)
    assert not imported & HTTP_AND_FRAMEWORKS, sorted(imported & HTTP_AND_FRAMEWORKS)
    edges = {f"pixie.client.{edge}" for edge in ("sync", "aio", "auth", "loopback")}
    assert not imported & edges, sorted(imported & edges)


def test_modules_stay_small() -> None:
    """STYLE item 9: under ~400 lines each."""
    sizes = {path.name: len(path.read_text().splitlines()) for path in CLIENT.glob("*.py")}
    assert max(sizes.values()) <= 400, sizes
