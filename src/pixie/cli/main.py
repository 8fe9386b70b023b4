"""The ``pixie`` command: the group (each sub-command loaded when asked for), shared options and the one place that
turns failures into exit codes.

Exit codes (ARCHITECTURE §4): 0 success; 2 usage error (bad option or input that can never work); 1 anything else,
always as one line on stderr — never a traceback.
"""

from __future__ import annotations

import importlib
import logging
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from pixie.config import ConfigError, Settings

if TYPE_CHECKING:
    from pixie.storage.interfaces import Storage
    from pixie.storage.records import Tenant
    from pixie.tokens.keys import KeyRing

__all__ = [
    "COMMANDS",
    "Command",
    "NeedsExtra",
    "Opened",
    "cli",
    "command_settings",
    "database_option",
    "main",
    "missing_requirements",
    "open_storage",
    "require_tenant",
    "run_in_tenant",
    "run_async",
    "tenant_option",
]


@dataclass(frozen=True)
class Command:
    """A sub-command as ``pixie --help`` lists it, without importing it: the modules that define it (each registers
    on :data:`cli` or on the group of the one before it when imported), the extra of ``pixie-oauth`` it needs (None:
    the base install), and its one-line help."""

    modules: tuple[str, ...]
    extra: str | None
    help: str


COMMANDS: dict[str, Command] = {
    "clients": Command(("pixie.cli.admin", "pixie.cli.clients"), "server", "Register and manage OAuth clients."),
    "db": Command(("pixie.cli.admin",), "server", "Database maintenance."),
    "demo": Command(("pixie.cli.serve",), "server", "Seed and serve the demo (server, Property API and SPA)."),
    "doctor": Command(("pixie.cli.doctor",), "server", "Check this configuration against RFC 9700."),
    "gateway": Command(("pixie.cli.gateway",), "server", "Run a token-checking reverse proxy."),
    "keys": Command(("pixie.cli.admin",), "server", "Signing keys: list and rotate."),
    "login": Command(("pixie.cli.login",), None, "Sign in through the browser (RFC 8252 loopback redirect)."),
    "registration-tokens": Command(
        ("pixie.cli.registration_tokens",), "server", "Initial access tokens for dynamic client registration."
    ),
    "resources": Command(("pixie.cli.resources",), "server", "Protected resources (RFC 8707 resource indicators)."),
    "secret": Command(("pixie.cli.secret",), "server", "The master key that seals signing keys at rest."),
    "serve": Command(("pixie.cli.serve",), "server", "Run the authorization server."),
    "stats": Command(("pixie.cli.stats",), "server", "Print the sign-in funnel and failure reasons."),
    "tenants": Command(("pixie.cli.tenants",), "server", "Manage tenants (each its own issuer, keys and users)."),
    "users": Command(("pixie.cli.admin", "pixie.cli.users"), "server", "Manage users."),
    "webhooks": Command(("pixie.cli.webhook_subscriptions",), "server", "Webhook subscriptions for flow events."),
}
"""Every sub-command. ``pixie --help`` lists them from here, so it imports none of them; a command's modules are
imported only when it runs. Only ``pixie login``, a client feature, runs on the base install."""

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


_KEY_FILE_META = "pixie.key_file"
"""Key of ``--secret-file`` in the click context's ``meta``, where :func:`open_storage` finds it."""


def _remember_secret_file(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.meta[_KEY_FILE_META] = value


def database_option(func: F) -> F:
    """``--database URL`` and ``--secret-file PATH``: what every command that opens the database reads. The
    command receives the URL; the key file reaches :func:`open_storage` through the click context."""
    func = click.option(
        "--secret-file",
        type=click.Path(dir_okay=False),
        envvar="PIXIE_SECRET_FILE",
        expose_value=False,
        callback=_remember_secret_file,
        help="File holding the master key (PIXIE_SECRET_FILE). Default: PIXIE_SECRET_KEY, else for SQLite the file"
        " beside the database (pixie.db -> pixie.secret).",
    )(func)
    return click.option(
        "--database",
        "database_url",
        envvar="PIXIE_DATABASE_URL",
        default="sqlite:///pixie.db",
        show_default=True,
        help="Database URL (PIXIE_DATABASE_URL).",
    )(func)


def command_settings(database_url: str, *, issuer: str | None = None) -> Settings:
    """The settings of a command that opens the database: the URL checked first (a URL of another kind is a usage
    error, whatever else is wrong), then the environment, with the master key from ``--secret-file`` when given."""
    from pixie.server.backend import settings_from_env  # the server extra: only commands that need it get here
    from pixie.storage.schema.urls import normalize_url

    try:
        normalize_url(database_url)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    context = click.get_current_context(silent=True)
    secret_file = context.meta.get(_KEY_FILE_META) if context is not None else None
    return settings_from_env(database_url=database_url, issuer=issuer, secret_file=secret_file)


DEFAULT_TENANT = "default"
"""The default tenant's name (:data:`pixie.tenancy.DEFAULT_TENANT`), spelled here so that ``--help`` loads no
storage code."""


def tenant_option(func: F) -> F:
    return click.option("--tenant", default=DEFAULT_TENANT, show_default=True, help="Tenant name.")(func)


@dataclass(frozen=True)
class Opened:
    settings: Settings
    storage: Storage
    keyring: KeyRing


@asynccontextmanager
async def open_storage(database_url: str, *, issuer: str | None = None) -> AsyncIterator[Opened]:
    """Open and migrate the database, check the master key against it, and make sure the default tenant exists, for
    one CLI command."""
    from pixie.server.backend import open_backend  # the server extra: only commands that need it get here

    settings = command_settings(database_url, issuer=issuer)
    async with open_backend(settings) as (storage, keyring):
        yield Opened(settings, storage, keyring)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    import asyncio  # not at the top: ``pixie --help`` runs no coroutine

    return asyncio.run(coro)


class NeedsExtra(Exception):
    """A command that needs an extra of ``pixie-oauth`` this environment lacks."""

    def __init__(self, command: str, extra: str) -> None:
        super().__init__(f"pixie {command} needs the {extra} extra: pip install 'pixie-oauth[{extra}]'")


def missing_requirements(extra: str) -> list[str]:
    """The distributions ``pixie-oauth[extra]`` requires that are not installed, read from Pixie's own metadata.

    Empty when Pixie runs without metadata (from a source tree): loading the command then tells instead.
    """
    import importlib.metadata  # not at the top: only running a command needs it

    try:
        requirements = importlib.metadata.requires("pixie-oauth") or []
    except importlib.metadata.PackageNotFoundError:
        return []
    wanted = re.compile(rf"""extra\s*==\s*["']{re.escape(extra)}["']""")
    missing = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        name = re.match(r"[A-Za-z0-9._-]+", spec.strip())
        if name is None or not wanted.search(marker):
            continue
        try:
            importlib.metadata.distribution(name.group())
        except importlib.metadata.PackageNotFoundError:
            missing.append(name.group())
    return missing


def _needs_extra(name: str, extra: str) -> click.Command:
    """Stands in for a command whose extra is missing: listed in ``--help``, and failing in one line when run."""

    def fail() -> None:
        raise NeedsExtra(name, extra)

    return click.Command(
        name,
        callback=fail,
        short_help=f"(needs pixie-oauth[{extra}])",
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


class _LazyGroup(click.Group):
    """Loads a sub-command's modules only when that command is asked for, so ``pixie --help`` and ``pixie login``
    start without the server's dependencies, and a command whose extra is missing says what to install."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # Every module of the command, even when another command's module has registered its group already
        # (pixie.cli.admin defines both ``clients`` and ``users``).
        if cmd_name in COMMANDS and not all(module in sys.modules for module in COMMANDS[cmd_name].modules):
            command = COMMANDS[cmd_name]
            if command.extra is not None and missing_requirements(command.extra):
                return _needs_extra(cmd_name, command.extra)
            try:
                for module in command.modules:
                    importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if command.extra is None or (exc.name or "pixie").split(".")[0] == "pixie":
                    raise
                return _needs_extra(cmd_name, command.extra)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``pixie --help``, from :data:`COMMANDS`: no command is imported to be listed. A command
        whose extra is not installed says which it needs."""
        missing = {extra: bool(missing_requirements(extra)) for extra in {c.extra for c in COMMANDS.values()} if extra}
        rows = [
            (
                name,
                f"(needs pixie-oauth[{command.extra}])" if command.extra and missing[command.extra] else command.help,
            )
            for name, command in ((name, COMMANDS[name]) for name in self.list_commands(ctx))
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="pixie-oauth", prog_name="pixie")
@click.option("-v", "--verbose", is_flag=True, help="Log at debug level.")
def cli(verbose: bool) -> None:
    """Pixie: an OAuth 2.1 authorization server built around PKCE."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"pixie: error: {message}", err=True)
    sys.exit(code)


def _usage_failure(exc: click.UsageError) -> NoReturn:
    """Click's usage block (the usage line and where to find help), then the error in Pixie's one-line style."""
    context = exc.ctx
    if context is not None:
        click.echo(context.get_usage(), err=True)
        click.echo(f"Try '{context.command_path} {context.help_option_names[0]}' for help.", err=True)
        click.echo("", err=True)
    _fail(_one_line(exc.format_message()), exc.exit_code)


def _one_line(message: str) -> str:
    return " ".join(message.split())


async def require_tenant(storage: Storage, name: str) -> Tenant:
    """Tenant ``name``; stop with "no tenant named ..." (exit 1) unless it exists."""
    from pixie.management import NotFound

    found = await storage.tenants.get(name)
    if found is None:
        raise NotFound(f"no tenant named {name[:64]!r} (create it with: pixie tenants create {name[:64]})")
    return found


def run_in_tenant(database_url: str, tenant: str, action: Callable[[Opened], Awaitable[T]]) -> T:
    """Open the database, check that ``tenant`` exists, and run ``action`` on it: a tenant-scoped command's body."""

    async def run() -> T:
        async with open_storage(database_url) as opened:
            await require_tenant(opened.storage, tenant)
            return await action(opened)

    return run_async(run())


# Failures that are the caller's to fix, by the module that defines them, with their exit code and the message when
# the exception has none. Each is looked up only if its module is loaded (a command that never imported it cannot
# have raised it), so starting ``pixie`` imports none of these modules.
_FAILURES = (
    ("pixie.config", "MasterKeyMismatch", 1, "the master key does not open this database's keys"),
    ("pixie.management", "InvalidRegistration", 2, "invalid registration"),
    ("pixie.management", "NotFound", 1, "not found"),
    ("pixie.storage.interfaces", "AlreadyExists", 1, "already exists"),
    ("pixie.storage.interfaces", "StorageError", 1, "the database failed"),
    ("pixie.tokens.signing", "JoseFailure", 1, "a key operation failed"),
)


def _known_failure(exc: Exception) -> tuple[str, int] | None:
    if isinstance(exc, ConfigError):
        return str(exc), 2
    for module_name, class_name, code, default in _FAILURES:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return str(exc) or default, code
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the console script: every failure ends as one line ``pixie: error: ...`` on standard error
    (after Click's usage block for a usage error), exit 2 for usage errors and 1 for the rest."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="pixie", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        _usage_failure(exc)
    except click.ClickException as exc:
        _fail(_one_line(exc.format_message()), exc.exit_code)
    except click.exceptions.Abort:
        _fail("aborted", 1)
    except NeedsExtra as exc:
        _fail(str(exc), 1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        known = _known_failure(exc)
        if known is not None:
            _fail(_one_line(known[0]), known[1])
        # Not one of ours: the message alone (a class name means nothing to a user), the traceback with --verbose.
        logging.getLogger("pixie.cli").debug("unexpected failure", exc_info=exc)
        first_line = (str(exc).splitlines() or [""])[0].strip()
        _fail(first_line or "unexpected failure (run with --verbose for details)", 1)
    sys.exit(code if isinstance(code, int) else 0)
