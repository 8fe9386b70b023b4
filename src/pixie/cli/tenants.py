"""``pixie tenants``: create (one, several or thousands), list, disable, enable and change settings.

Output is JSON (one object per line for lists). Creating more than a handful of tenants shows a progress bar on
standard error, so standard output stays machine-readable. A running server sees a disable, an enable or a
settings change made here within its tenant cache's lifetime (10 s); the admin API applies them at once in the
process that serves it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pixie.cli.main import cli, database_option, open_storage, run_async
from pixie.management import (
    NotFound,
    create_tenant,
    create_tenants,
    set_tenant_disabled,
    update_tenant_settings,
)
from pixie.storage.interfaces import AlreadyExists
from pixie.tenancy import SETTING_LIMITS, TENANT_GRANT_TYPES, tenant_view
from pixie.types import TenantId

__all__ = ["tenants"]

HANDFUL = 5
"""More tenants than this at once get a progress bar."""


@cli.group()
def tenants() -> None:
    """Manage tenants (each its own issuer, keys, clients, users and settings)."""


def _names(names: tuple[str, ...], count: int | None, prefix: str | None) -> list[str]:
    if count is None:
        if prefix is not None:
            raise click.UsageError("--prefix goes with --count N")
        if not names:
            raise click.UsageError("name at least one tenant, or use --count N --prefix P")
        return list(names)
    if names:
        raise click.UsageError("give tenant names or --count N --prefix P, not both")
    if not prefix:
        raise click.UsageError("--count needs --prefix, e.g. --count 100 --prefix acme-")
    width = len(str(count))
    return [f"{prefix}{index:0{width}d}" for index in range(1, count + 1)]


@contextmanager
def _progress_bar(total: int) -> Iterator[Callable[[int], None] | None]:
    if total <= HANDFUL:
        yield None
        return
    columns = (TextColumn("creating tenants"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("tenants", total=total)
        yield lambda done: progress.advance(task, done)


@tenants.command("create")
@click.argument("names", nargs=-1)
@click.option("--count", type=click.IntRange(1, 100_000), help="Create this many tenants named PREFIX1, PREFIX2...")
@click.option("--prefix", help="Name prefix for --count (numbers are zero-padded).")
@click.option("--display-name", help="Human-readable name (a single tenant only).")
@database_option
def create_tenant_command(
    names: tuple[str, ...], count: int | None, prefix: str | None, display_name: str | None, database_url: str
) -> None:
    """Create tenants NAME... with issuers {base}/t/NAME and their own signing keys; print each as JSON."""
    wanted = _names(names, count, prefix)
    if display_name is not None and len(wanted) != 1:
        raise click.UsageError("--display-name names a single tenant")

    async def run() -> list[str]:
        async with open_storage(database_url) as opened:
            base = opened.settings.issuer
            if len(wanted) == 1:
                try:
                    one = await create_tenant(
                        opened.storage, opened.keyring, wanted[0], display_name=display_name, settings=None
                    )
                except AlreadyExists:
                    raise AlreadyExists(f"tenant {wanted[0]!r} already exists") from None
                created = [one]
            else:
                with _progress_bar(len(wanted)) as progress:
                    created = await create_tenants(opened.storage, opened.keyring, wanted, progress=progress)
            return [json.dumps({"tenant": t.id, "issuer": tenant_view(t, base)["issuer"]}) for t in created]

    click.echo("\n".join(run_async(run())))


@tenants.command("list")
@click.option("--full", is_flag=True, help="Also print issuer and settings.")
@database_option
def list_tenants(full: bool, database_url: str) -> None:
    """List tenants as JSON lines."""

    async def run() -> list[str]:
        async with open_storage(database_url) as opened:
            lines = []
            for tenant in await opened.storage.tenants.list():
                view = tenant_view(tenant, opened.settings.issuer)
                if not full:
                    view = {k: view[k] for k in ("tenant", "display_name", "disabled")}
                lines.append(json.dumps(view))
            return lines

    click.echo("\n".join(run_async(run())))


def _set_disabled(name: TenantId, disabled: bool, database_url: str) -> None:
    async def run() -> str:
        async with open_storage(database_url) as opened:
            try:
                tenant = await set_tenant_disabled(opened.storage, name, disabled)
            except NotFound as exc:
                raise click.UsageError(str(exc)) from None
            return json.dumps({"tenant": tenant.id, "disabled": tenant.disabled})

    click.echo(run_async(run()))


@tenants.command("disable")
@click.argument("name")
@database_option
def disable_tenant(name: str, database_url: str) -> None:
    """Disable tenant NAME: every endpoint under /t/NAME answers 404 (running servers: within 10 s)."""
    _set_disabled(name, True, database_url)


@tenants.command("enable")
@click.argument("name")
@database_option
def enable_tenant(name: str, database_url: str) -> None:
    """Enable tenant NAME again."""
    _set_disabled(name, False, database_url)


def _seconds(name: str) -> click.IntRange:
    low, high = SETTING_LIMITS[name]
    return click.IntRange(low, high)


@tenants.command("settings")
@click.argument("name")
@click.option("--access-token-ttl", type=_seconds("access_token_ttl"), help="Access-token lifetime (s).")
@click.option("--refresh-idle-ttl", type=_seconds("refresh_idle_ttl"), help="Refresh idle timeout (s).")
@click.option("--refresh-absolute-ttl", type=_seconds("refresh_absolute_ttl"), help="Refresh family lifetime (s).")
@click.option(
    "--refresh-grace",
    type=_seconds("refresh_grace_seconds"),
    help="Refresh grace window (s) for clients registered from now on without their own.",
)
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    type=click.Choice(TENANT_GRANT_TYPES),
    help="Allowed grant (repeatable; replaces the list).",
)
@click.option("--login-title", help="Heading of the sign-in page.")
@click.option("--brand-color", help="Brand colour of the sign-in pages, #rrggbb or #rgb.")
@click.option(
    "--dpop-nonce/--no-dpop-nonce", default=None, help="Require the server's nonce in DPoP proofs (RFC 9449 §8)."
)
@click.option(
    "--require-par/--no-require-par",
    default=None,
    help="Every client must push its authorization requests first (RFC 9126).",
)
@database_option
def tenant_settings(
    name: str,
    access_token_ttl: int | None,
    refresh_idle_ttl: int | None,
    refresh_absolute_ttl: int | None,
    refresh_grace: int | None,
    grant_types: tuple[str, ...],
    login_title: str | None,
    brand_color: str | None,
    dpop_nonce: bool | None,
    require_par: bool | None,
    database_url: str,
) -> None:
    """Show tenant NAME's settings, or change the ones given; print the tenant as JSON."""
    changes: dict[str, object] = {
        key: value
        for key, value in {
            "access_token_ttl": access_token_ttl,
            "refresh_idle_ttl": refresh_idle_ttl,
            "refresh_absolute_ttl": refresh_absolute_ttl,
            "refresh_grace_seconds": refresh_grace,
            "allowed_grant_types": list(grant_types) or None,
            "login_title": login_title,
            "brand_color": brand_color,
            "dpop_nonce": dpop_nonce,
            "require_pushed_authorization_requests": require_par,
        }.items()
        if value is not None
    }

    async def run() -> str:
        async with open_storage(database_url) as opened:
            try:
                if changes:
                    tenant = await update_tenant_settings(opened.storage, name, changes)
                else:
                    found = await opened.storage.tenants.get(name)
                    if found is None:
                        raise NotFound(f"no tenant named {name[:64]!r}")
                    tenant = found
            except NotFound as exc:
                raise click.UsageError(str(exc)) from None
            return json.dumps(tenant_view(tenant, opened.settings.issuer), indent=2)

    click.echo(run_async(run()))
