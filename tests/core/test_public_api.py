"""Each public module's ``__all__`` lists exactly its public names, sorted (STYLE.md item 9)."""

from __future__ import annotations

import importlib
import inspect

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
