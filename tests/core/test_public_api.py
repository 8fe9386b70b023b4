"""Each public module's ``__all__`` lists exactly its public names, sorted (STYLE.md item 9); the package faces
that re-export lazily (STYLE.md item 14) load nothing until a name is asked for."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

MODULES = ["pixie.pkce", "pixie.errors", "pixie.security", "pixie.storage.records", "pixie.storage.interfaces"]


def _defined_here(module_name: str) -> set[str]:
    """Public classes and functions defined in the module itself, and its UPPER_CASE constants."""
    module = importlib.import_module(module_name)
    names = set()
    for attr, value in vars(module).items():
        if attr.startswith("_"):
            continue
        own_definition = (inspect.isclass(value) or inspect.isfunction(value)) and value.__module__ == module_name
        constant = attr.isupper() and not (inspect.ismodule(value) or inspect.isclass(value) or callable(value))
        if own_definition or constant:
            names.add(attr)
    return names


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_exact(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported), f"{name}.__all__ is not sorted"
    assert set(exported) == _defined_here(name)


def test_package_reexports() -> None:
    import pixie

    assert pixie.__all__ == sorted(pixie.__all__)
    for attr in pixie.__all__:
        assert hasattr(pixie, attr)


LAZY_FACES = ["pixie.client", "pixie.resource"]


def _type_checking_imports(package_file: str) -> dict[str, str]:
    """What the ``if TYPE_CHECKING:`` block of a package's ``__init__`` imports: name -> module."""
    for node in ast.parse(Path(package_file).read_text()).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return {
                alias.asname or alias.name: statement.module or ""
                for statement in node.body
                if isinstance(statement, ast.ImportFrom)
                for alias in statement.names
            }
    return {}


@pytest.mark.parametrize("name", LAZY_FACES)
def test_lazy_face_names_each_export_once(name: str) -> None:
    """``__all__``, the imports type checkers and IDEs read, and what the first access loads are the same names,
    each from the same module; ``dir()`` lists them before they are loaded."""
    package = importlib.import_module(name)
    static = _type_checking_imports(package.__file__ or "")
    assert sorted(static) == list(package.__all__)
    assert set(package.__all__) <= set(dir(package))
    for attr, module in static.items():
        assert getattr(package, attr) is getattr(importlib.import_module(module), attr), attr
    with pytest.raises(AttributeError, match="no_such_name"):
        package.no_such_name  # noqa: B018


def test_lazy_faces_load_nothing_until_asked() -> None:
    code = "import sys, pixie.client, pixie.resource; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "pixie.client" in loaded and "pixie.resource" in loaded
    assert not [module for module in loaded if module.startswith(("pixie.client.", "pixie.resource."))]
    assert not {"httpx", "starlette"} & set(loaded)
