"""Package faces that import each public name from its module on first use (PEP 562).

A package ``__init__`` that re-exports its modules' names would import every module, and their dependencies, as
soon as any one module of the package is imported: importing the sans-I/O client protocol would load httpx.
:func:`lazy_exports` gives such a package the module ``__getattr__`` and ``__dir__`` that import a name's module
when the name is first read, and keep it in the package's namespace from then on.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, sources: Mapping[str, str], namespace: MutableMapping[str, object], exported: Iterable[str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose ``namespace`` (its ``globals()``) gets each name of
    ``sources`` (name → module) on first access; ``dir()`` lists ``exported`` too, loaded or not."""
    listed = frozenset(exported)

    def __getattr__(name: str) -> object:
        try:
            module = sources[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *listed})

    return __getattr__, __dir__
