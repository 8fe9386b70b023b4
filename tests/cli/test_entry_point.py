"""The ``pixie`` entry point starts without the server's dependencies and loads each command only when asked for,
so the base install (tests/packaging) can run ``pixie login`` and say what ``pixie serve`` needs."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import click
import pytest

SERVER_MODULES = {
    "starlette",
    "uvicorn",
    "jinja2",
    "multipart",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "alembic",
    "argon2",
    "prometheus_client",
    "orjson",
    "pygal",
    "limits",
    "redis",
    "rich",
}

# The module, not the function ``pixie.cli.main`` that the package re-exports under the same name.
entry = importlib.import_module("pixie.cli.main")


def _loaded_after(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_starting_pixie_and_its_login_load_nothing_of_the_server() -> None:
    assert "click" in _loaded_after("import pixie.cli")
    assert not _loaded_after("import pixie.cli") & SERVER_MODULES
    login = "from pixie.cli.main import cli\nimport click\ncli.get_command(click.Context(cli), 'login')"
    loaded = _loaded_after(login)
    # httpx loads rich for its own command line whenever rich is installed (it is here, not in the base install).
    assert "httpx" in loaded and not loaded & (SERVER_MODULES - {"rich"}), sorted(loaded & SERVER_MODULES)


def test_asking_for_serve_loads_the_server() -> None:
    """The other side of the check above: the probe does see the server when a command needs it."""
    serve = "from pixie.cli.main import cli\nimport click\ncli.get_command(click.Context(cli), 'serve')"
    assert {"uvicorn", "argon2"} <= _loaded_after(serve)


@pytest.mark.parametrize("name", sorted(entry.COMMANDS))
def test_each_command_is_defined_where_the_table_says(name: str) -> None:
    command = entry.cli.get_command(click.Context(entry.cli), name)
    assert isinstance(command, click.Command) and command.name == name
    modules = entry.COMMANDS[name].modules
    assert command.callback is not None and command.callback.__module__ == modules[0]
    if isinstance(command, click.Group):  # each further module adds sub-commands to the group
        defined_in = {sub.callback.__module__ for sub in command.commands.values() if sub.callback is not None}
        assert defined_in == set(modules) - {"pixie.cli.main"}, defined_in
    assert entry.COMMANDS[name].help


def test_the_whole_server_extra_is_installed_here() -> None:
    """Read from Pixie's own metadata: the test environment is ``.[server,test]``."""
    assert entry.missing_requirements("server") == []
    assert entry.missing_requirements("no-such-extra") == []


@pytest.mark.parametrize(("module", "name", "code", "default"), entry._FAILURES)
def test_failure_table_names_real_exceptions(module: str, name: str, code: int, default: str) -> None:
    failure = getattr(importlib.import_module(module), name)
    assert isinstance(failure, type) and issubclass(failure, Exception)
    assert entry._known_failure(failure()) == (default, code)


def test_the_default_tenant_is_spelled_alike() -> None:
    """``pixie.cli.main`` spells the default tenant's name itself, so that ``--help`` imports no storage code."""
    from pixie.tenancy import DEFAULT_TENANT

    assert entry.DEFAULT_TENANT == DEFAULT_TENANT
