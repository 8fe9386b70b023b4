"""Layering (ARCHITECTURE §2), checked two ways over every module in ``src/pixie``.

1. **In a fresh interpreter**, importing any core or protocol module loads no web framework, HTTP client, template
   engine or database driver — not even through a package ``__init__``. Each module is imported in its own
   subprocess, which then reports ``sys.modules``.
2. **Pixie's own imports**, read with ``ast`` (relative, function-level and ``TYPE_CHECKING`` ones included), point
   downwards only: core imports core; protocol imports core and protocol; the edges import anything. A few rules hold
   within a layer (:data:`RULES`), and the layers' own third-party imports are read too, so an import hidden in a
   function (which the first check cannot see) is caught as well.

Which layer a module is in comes from :data:`LAYERS`: the longest entry that is the module or one of its packages
decides. Every module in the tree is covered (``pixie`` itself is core, so a new top-level module starts in the
strictest layer until it is placed).
"""

from __future__ import annotations

import ast
import enum
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

FORBIDDEN = frozenset(
    {"starlette", "httpx", "sqlalchemy", "asyncpg", "uvicorn", "jinja2", "fastapi", "alembic", "aiosqlite"}
)
"""Top-level packages that core and protocol modules never load, directly or through anything they import."""


class Layer(enum.IntEnum):
    CORE = 0
    PROTOCOL = 1
    EDGE = 2


CORE, PROTOCOL, EDGE = Layer.CORE, Layer.PROTOCOL, Layer.EDGE


@dataclass(frozen=True)
class Rule:
    """Modules under ``importer`` never import ``imported`` or anything under it (other than themselves).
    ``imported`` may be a third-party package: ``Rule("pixie.storage.sqlite", "asyncpg", ...)``."""

    importer: str
    imported: str
    why: str


# Storage reads bottom up as ports (interfaces, records; the client cache over them) → the statements (every store's SQL
# written once, for both databases) → the two drivers → the schema (tables, migrations and the URL dispatch that
# opens a driver). The first two are protocol, the drivers and the schema edges; the rules keep the edges in order.
STORAGE_LAYERS: dict[str, Layer] = {
    "pixie.storage": EDGE,
    "pixie.storage.interfaces": PROTOCOL,
    "pixie.storage.records": PROTOCOL,
    "pixie.storage.cache": PROTOCOL,
    "pixie.storage.statements": PROTOCOL,
}
_DRIVERS_BELOW_SCHEMA = "a driver serves a database the schema has migrated; the schema dispatches to the drivers"
STORAGE_RULES = [
    Rule("pixie.storage.sqlite", "pixie.storage.pg", "the SQLite driver stands alone"),
    Rule("pixie.storage.pg", "pixie.storage.sqlite", "the PostgreSQL driver stands alone"),
    Rule("pixie.storage.sqlite", "pixie.storage.schema", _DRIVERS_BELOW_SCHEMA),
    Rule("pixie.storage.pg", "pixie.storage.schema", _DRIVERS_BELOW_SCHEMA),
    Rule("pixie.storage.sqlite", "asyncpg", "asyncpg is the PostgreSQL driver's"),
    Rule("pixie.storage.pg", "sqlite3", "sqlite3 is the SQLite driver's"),
    Rule("pixie.storage.statements", "sqlite3", "the statements serve both databases; only a driver talks to one"),
]
ONLY_IN: dict[str, str] = {
    "sqlalchemy": "pixie.storage.schema",
    "alembic": "pixie.storage.schema",
}
"""Third-party packages that one part of Pixie alone may import: SQLAlchemy and Alembic are for the schema and its
migrations only."""

LAYERS: dict[str, Layer] = {
    "pixie": CORE,  # pkce, errors, scopes, security, types, config, passwords
    "pixie.accounts": PROTOCOL,
    "pixie.doctor": PROTOCOL,
    "pixie.analytics": PROTOCOL,
    "pixie.events": PROTOCOL,
    "pixie.housekeeping": PROTOCOL,
    "pixie.management": PROTOCOL,
    "pixie.registration": PROTOCOL,
    "pixie.protected_resources": PROTOCOL,
    "pixie.tenancy": PROTOCOL,
    "pixie.webhooks": PROTOCOL,
    "pixie.audit": EDGE,
    "pixie.tokens": PROTOCOL,
    "pixie.server": EDGE,
    "pixie.server.grants": PROTOCOL,
    "pixie.server.protocol": PROTOCOL,
    "pixie.client": EDGE,
    "pixie.client.discovery": PROTOCOL,
    "pixie.client.dpop": PROTOCOL,
    "pixie.client.errors": PROTOCOL,
    "pixie.client.flows": PROTOCOL,
    "pixie.client.models": PROTOCOL,
    "pixie.client.par": PROTOCOL,
    "pixie.client.token_response": PROTOCOL,
    "pixie.client.oidc": PROTOCOL,
    "pixie.client.tokens": PROTOCOL,
    "pixie.resource": EDGE,
    "pixie.resource.credentials": PROTOCOL,
    "pixie.resource.dpop": PROTOCOL,
    "pixie.resource.jws": PROTOCOL,
    "pixie.resource.verifier": PROTOCOL,
    "pixie.cli": EDGE,
    "pixie.demo": EDGE,
    "pixie.testing": EDGE,
    **STORAGE_LAYERS,
}

RULES = [
    Rule(
        "pixie.server.endpoints",
        "pixie.server.endpoints",
        "an endpoint never imports another; what two share lives in server/ or in the protocol layer",
    ),
    *STORAGE_RULES,
]


@dataclass(frozen=True)
class Allowed:
    """One deliberate import against the layer order, with the reason it is safe."""

    importer: str
    imported: str
    why: str


ALLOWED = [
    Allowed(
        "pixie.resource.verifier",
        "pixie.resource.jwks_cache",
        "JWTVerifier's default key source, imported inside __init__ only when the caller passes none",
    ),
]


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    """A module of the tree, or the top-level name of a third-party package."""
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.importer} imports {self.target}"


def modules(root: Path) -> dict[str, Path]:
    """Every module under ``root``, by dotted name (a package by its own name, for its ``__init__``)."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def layer_of(module: str, layers: Mapping[str, Layer] = LAYERS) -> Layer:
    owners = [prefix for prefix in layers if module == prefix or module.startswith(prefix + ".")]
    if not owners:
        raise LookupError(f"{module} is in no layer")
    return layers[max(owners, key=len)]


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def imports(root: Path) -> Iterator[Import]:
    """Every import statement of every module under ``root``, wherever it stands, resolved to what it loads."""
    tree = modules(root)
    for name, path in tree.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                # ``from package import name`` loads the submodule ``name`` when there is one.
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in tree else source for alias in node.names
                ]
            else:
                continue
            for target in targets:
                owned = target if target in tree else target.split(".")[0]
                yield Import(name, owned, path.relative_to(root.parent), node.lineno)


def layer_violations(root: Path, layers: Mapping[str, Layer] = LAYERS) -> list[str]:
    tree = modules(root)
    allowed = {(entry.importer, entry.imported) for entry in ALLOWED}
    found = []
    for imp in imports(root):
        mine = layer_of(imp.importer, layers)
        if imp.target in tree:
            theirs = layer_of(imp.target, layers)
            if theirs > mine and (imp.importer, imp.target) not in allowed:
                found.append(f"{imp} ({mine.name.lower()} may not import {theirs.name.lower()})")
        elif mine < EDGE and imp.target in FORBIDDEN:
            found.append(f"{imp} (keep frameworks, HTTP and databases at the edges)")
    return found


def rule_violations(root: Path, rule: Rule) -> list[str]:
    return [
        str(imp)
        for imp in imports(root)
        if under(imp.importer, rule.importer) and under(imp.target, rule.imported) and imp.target != imp.importer
    ]


# --- 1. A fresh interpreter per core and protocol module -----------------------------------------------------------

_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
import pixie
print(json.dumps({"pixie": pixie.__file__, "loaded": sorted({name.split(".")[0] for name in sys.modules})}))
"""


def probe(module: str) -> set[str]:
    """The top-level packages loaded by importing ``module`` alone, in a new interpreter."""
    done = subprocess.run(
        [sys.executable, "-I", "-c", _PROBE, module], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"importing {module} failed:\n{done.stderr}"
    report = json.loads(done.stdout)
    assert Path(report["pixie"]).resolve().is_relative_to(SRC), f"the probe imported another Pixie: {report['pixie']}"
    return set(report["loaded"])


def _core_and_protocol(root: Path) -> list[str]:
    return [name for name in modules(root) if layer_of(name) < EDGE]


LOWER_LAYERS = _core_and_protocol(SRC / "pixie")


@pytest.fixture(scope="module")
def loaded_by() -> dict[str, set[str]]:
    """Each lower-layer module's probe, run a few at a time (each is a whole interpreter start)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(LOWER_LAYERS, pool.map(probe, LOWER_LAYERS), strict=True))


@pytest.mark.parametrize("module", LOWER_LAYERS)
def test_fresh_import_loads_no_framework(module: str, loaded_by: dict[str, set[str]]) -> None:
    bad = loaded_by[module] & FORBIDDEN
    assert not bad, f"importing {module} ({layer_of(module).name.lower()}) loads {sorted(bad)}"


# --- 2. Pixie's own imports point down ----------------------------------------------------------------------------


def test_imports_point_down() -> None:
    found = layer_violations(SRC / "pixie")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: f"{rule.importer}-x-{rule.imported}")
def test_rule(rule: Rule) -> None:
    found = rule_violations(SRC / "pixie", rule)
    assert not found, f"{rule.why}:\n" + "\n".join(found)


def stray_imports(root: Path, package: str, owner: str) -> list[str]:
    return [str(imp) for imp in imports(root) if imp.target == package and not under(imp.importer, owner)]


@pytest.mark.parametrize(("package", "owner"), ONLY_IN.items())
def test_package_used_in_one_place_only(package: str, owner: str) -> None:
    found = stray_imports(SRC / "pixie", package, owner)
    assert not found, f"only {owner} imports {package}:\n" + "\n".join(found)


# --- Guarding the guard -------------------------------------------------------------------------------------------


def test_the_tables_name_real_modules() -> None:
    """A renamed module must not silently leave its entry (and so its layer or rule) behind."""
    tree = modules(SRC / "pixie")

    def exists(prefix: str) -> bool:
        return any(under(name, prefix) for name in tree)

    stale = [prefix for prefix in LAYERS if not exists(prefix)]
    sides = [side for rule in RULES for side in (rule.importer, rule.imported) if side.startswith("pixie")]
    stale += [side for side in sides if not exists(side)]
    assert not stale, stale
    assert len(LOWER_LAYERS) >= 30, LOWER_LAYERS


def test_each_allowed_exception_is_still_used() -> None:
    pairs = {(imp.importer, imp.target) for imp in imports(SRC / "pixie")}
    unused = [entry for entry in ALLOWED if (entry.importer, entry.imported) not in pairs]
    assert not unused, f"remove from ALLOWED: {unused}"


def _write(root: Path, files: Mapping[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pixie"


def test_the_checker_catches_hidden_violations(tmp_path: Path) -> None:
    """Relative, function-level and TYPE_CHECKING imports all count, and so does a name imported from a package whose
    ``__init__`` is an edge."""
    root = _write(
        tmp_path,
        {
            "pixie/__init__.py": "",
            "pixie/pkce.py": "def later():\n    from .server import app\n",
            "pixie/tokens/__init__.py": "",
            "pixie/tokens/issuer.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pixie.client import sync\n"
            ),
            "pixie/tokens/keys.py": "def fetch():\n    import httpx.auth\n",
            "pixie/tokens/signing.py": "from ..resource import JWTVerifier\n",
            "pixie/server/__init__.py": "",
            "pixie/server/app.py": "import starlette\nfrom pixie.tokens import keys\n",
            "pixie/client/__init__.py": "",
            "pixie/client/sync.py": "",
            "pixie/resource/__init__.py": "from pixie.resource.middleware import JWTVerifier\n",
            "pixie/resource/middleware.py": "",
        },
    )
    found = layer_violations(root)
    assert [line.split(": ", 1)[1].split(" (")[0] for line in found] == [
        "pixie.pkce imports pixie.server.app",
        "pixie.tokens.issuer imports pixie.client.sync",
        "pixie.tokens.keys imports httpx",
        "pixie.tokens.signing imports pixie.resource",
    ]
    assert "core may not import edge" in found[0]


def test_the_rules_catch_sibling_imports(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "pixie/server/endpoints/__init__.py": "",
            "pixie/server/endpoints/token.py": "def f():\n    from . import discovery\n",
            "pixie/server/endpoints/discovery.py": "import pixie.server.endpoints\n",
            "pixie/storage/pg/codec.py": "import asyncpg.pool\nfrom pixie.storage.sqlite.codec import decode\n",
            "pixie/storage/sqlite/codec.py": "",
        },
    )
    assert [line.split(": ", 1)[1] for line in rule_violations(root, RULES[0])] == [
        "pixie.server.endpoints.discovery imports pixie.server.endpoints",
        "pixie.server.endpoints.token imports pixie.server.endpoints.discovery",
    ]
    assert rule_violations(root, Rule("pixie.storage.pg", "pixie.storage.sqlite", ""))
    assert not rule_violations(root, Rule("pixie.storage.sqlite", "pixie.storage.pg", ""))
    assert rule_violations(root, Rule("pixie.storage.pg", "asyncpg", ""))


def test_a_package_kept_in_one_place_is_seen_elsewhere(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "pixie/demo/config.py": "def parse():\n    from sqlalchemy.engine import make_url\n",
            "pixie/storage/schema/engine.py": "import sqlalchemy\n",
        },
    )
    found = stray_imports(root, "sqlalchemy", ONLY_IN["sqlalchemy"])
    assert [line.split(": ", 1)[1] for line in found] == ["pixie.demo.config imports sqlalchemy"]


def test_the_probe_sees_what_an_import_loads() -> None:
    """An edge module that loads httpx shows it in the probe's report, so an empty report means something."""
    assert "httpx" in probe("pixie.resource.jwks_cache")
    assert not probe("pixie.types") & FORBIDDEN
