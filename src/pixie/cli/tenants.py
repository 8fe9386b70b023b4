"""``pixie tenants``: create (one, several or thousands), list, show, disable, enable and change settings.

``list`` and ``show`` print for people (``--json`` for scripts); the others print JSON. Creating more than a handful
of tenants shows a progress bar on standard error, so standard output stays machine-readable. A running server sees
a disable, an enable or a settings change made here within its tenant cache's lifetime (10 s); the admin API applies
them at once in the process that serves it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from pixie.cli.main import cli, database_option, open_storage, run_async
from pixie.cli.output import echo_fields, echo_json, echo_table, iso_time, json_option
from pixie.management import (
    NotFound,
    create_tenant,
    create_tenants,
    set_tenant_disabled,
    set_tenant_display_name,
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
    # Here, not at the top: listing or showing tenants needs no progress bar, and rich takes long to import.
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
@json_option
@database_option
def list_tenants(as_json: bool, database_url: str) -> None:
    """List tenants (--json: each with its issuer and settings)."""

    async def run() -> list[dict[str, Any]]:
        async with open_storage(database_url) as opened:
            return [tenant_view(tenant, opened.settings.issuer) for tenant in await opened.storage.tenants.list()]

    views = run_async(run())
    if as_json:
        echo_json(views)
        return
    rows = [view | {"status": "disabled" if view["disabled"] else "enabled"} for view in views]
    columns = [("TENANT", "tenant"), ("DISPLAY NAME", "display_name"), ("STATUS", "status"), ("ISSUER", "issuer")]
    echo_table(rows, columns, empty="no tenants")


@tenants.command("show")
@click.argument("name")
@json_option
@database_option
def show_tenant(name: str, as_json: bool, database_url: str) -> None:
    """Show tenant NAME: its issuer and settings."""

    async def run() -> dict[str, Any]:
        async with open_storage(database_url) as opened:
            found = await opened.storage.tenants.get(name)
            if found is None:
                raise NotFound(f"no tenant named {name[:64]!r}")
            view = tenant_view(found, opened.settings.issuer)
            view["clients"] = len(await opened.storage.clients.list(name))
            return view

    view = run_async(run())
    if as_json:
        echo_json(view | {"created_at": iso_time(view["created_at"])})
        return
    settings = view["settings"]
    echo_fields(
        [
            ("tenant", view["tenant"]),
            ("display name", view["display_name"]),
            ("issuer", view["issuer"]),
            ("status", "disabled" if view["disabled"] else "enabled"),
            ("created", iso_time(view["created_at"])),
            ("clients", view["clients"]),
            ("access token TTL", f"{settings['access_token_ttl']} s"),
            ("refresh idle TTL", f"{settings['refresh_idle_ttl']} s"),
            ("refresh max TTL", f"{settings['refresh_absolute_ttl']} s"),
            ("refresh grace", f"{settings['refresh_grace_seconds']} s"),
            ("grant types", settings["allowed_grant_types"]),
            ("signing alg", settings["signing_alg"]),
            ("login title", settings["login_title"]),
            ("brand color", settings["brand_color"]),
        ]
    )


def _set_disabled(name: TenantId, disabled: bool, database_url: str) -> None:
    async def run() -> str:
        async with open_storage(database_url) as opened:
            tenant = await set_tenant_disabled(opened.storage, name, disabled)
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
@click.option("--display-name", help="The tenant's name as its sign-in and consent pages show it.")
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
    display_name: str | None,
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
            if display_name is not None:
                await set_tenant_display_name(opened.storage, name, display_name)
            if changes:
                tenant = await update_tenant_settings(opened.storage, name, changes)
            else:
                found = await opened.storage.tenants.get(name)
                if found is None:
                    raise NotFound(f"no tenant named {name[:64]!r}")
                tenant = found
            return json.dumps(tenant_view(tenant, opened.settings.issuer), indent=2)

    click.echo(run_async(run()))
