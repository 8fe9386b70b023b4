"""The ``pixie`` command: groups, shared options and the one place that turns failures into exit codes.

Exit codes (ARCHITECTURE §4): 0 success; 2 usage error (bad option or input that can never work); 1 anything else,
always as one line on stderr — never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from pixie.config import ConfigError, Settings
from pixie.management import InvalidRegistration
from pixie.server.app import open_backend
from pixie.storage.interfaces import AlreadyExists, Storage, StorageError
from pixie.tenancy import DEFAULT_TENANT
from pixie.tokens.keys import KeyRing
from pixie.tokens.signing import JoseFailure

__all__ = ["Opened", "cli", "database_option", "main", "open_storage", "run_async", "tenant_option"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def database_option(func: F) -> F:
    return click.option(
        "--database",
        "database_url",
        envvar="PIXIE_DATABASE_URL",
        default="sqlite:///pixie.db",
        show_default=True,
        help="Database URL (PIXIE_DATABASE_URL).",
    )(func)


def tenant_option(func: F) -> F:
    return click.option("--tenant", default=DEFAULT_TENANT, show_default=True, help="Tenant name.")(func)


@dataclass(frozen=True)
class Opened:
    settings: Settings
    storage: Storage
    keyring: KeyRing


@asynccontextmanager
async def open_storage(database_url: str, *, issuer: str | None = None) -> AsyncIterator[Opened]:
    """Open and migrate the database, and make sure the default tenant exists, for one CLI command."""
    settings = Settings.from_env(database_url=database_url, issuer=issuer)
    async with open_backend(settings) as (storage, keyring):
        yield Opened(settings, storage, keyring)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="pixie-oauth", prog_name="pixie")
@click.option("-v", "--verbose", is_flag=True, help="Log at debug level.")
def cli(verbose: bool) -> None:
    """Pixie: an OAuth 2.1 authorization server built around PKCE."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)


def _fail(message: str, code: int) -> None:
    click.echo(f"pixie: error: {message}", err=True)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the console script."""
    from pixie.cli import admin, gateway, login, serve, stats, webhook_subscriptions  # noqa: F401  (registers the sub-commands)

    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="pixie", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        _fail("aborted", 1)
    except (InvalidRegistration, ConfigError) as exc:
        _fail(str(exc), 2)
    except AlreadyExists as exc:
        _fail(str(exc) or "already exists", 1)
    except (StorageError, JoseFailure) as exc:
        _fail(str(exc), 1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        first_line = (str(exc).splitlines() or [""])[0]
        _fail(f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__, 1)
    sys.exit(code if isinstance(code, int) else 0)
