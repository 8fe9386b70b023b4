"""``pixie clients list|show|update|disable|enable|delete|rotate-secret`` (``clients create`` is in
:mod:`pixie.cli.admin`). What each change ends is :mod:`pixie.accounts`' to say."""

from __future__ import annotations

import sys
from typing import TypeVar

import click

from pixie.accounts import (
    ClientChanges,
    delete_client,
    find_client,
    rotate_client_secret,
    set_client_disabled,
    update_client,
)
from pixie.cli.admin import clients
from pixie.cli.main import Opened, database_option, run_in_tenant, tenant_option
from pixie.cli.output import echo_fields, echo_json, echo_table, json_option
from pixie.cli.views import client_view, echo_ended, ended_view
from pixie.management import GRANT_TYPES, InvalidRegistration
from pixie.storage.records import Client, EndedAccess

__all__ = ["delete_client_command", "list_clients", "rotate_secret", "show_client", "update_client_command"]

T = TypeVar("T")


def _echo_client(client: Client) -> None:
    view = client_view(client)
    echo_fields(
        [
            ("client id", view["client_id"]),
            ("name", view["name"]),
            ("logo", view["logo_uri"]),
            ("tenant", view["tenant"]),
            ("type", f"{view['client_type']} ({view['token_endpoint_auth_method']})"),
            ("status", "disabled" if client.disabled else "enabled"),
            ("redirect URIs", view["redirect_uris"]),
            ("grant types", view["grant_types"]),
            ("scope", view["scope"]),
            ("audiences", view["audiences"]),
            ("refresh grace", f"{client.refresh_grace_seconds} s"),
            ("access token TTL", _seconds(client.access_token_ttl)),
            ("refresh idle TTL", _seconds(client.refresh_idle_ttl)),
            ("refresh max TTL", _seconds(client.refresh_absolute_ttl)),
            ("created", view["created_at"]),
        ]
    )


def _seconds(value: int | None) -> str:
    return "tenant default" if value is None else f"{value} s"


@clients.command("list")
@json_option
@tenant_option
@database_option
def list_clients(as_json: bool, tenant: str, database_url: str) -> None:
    """List the tenant's clients."""

    async def action(opened: Opened) -> list[Client]:
        return await opened.storage.clients.list(tenant)

    found = run_in_tenant(database_url, tenant, action)
    if as_json:
        echo_json([client_view(client) for client in found])
        return
    rows = [
        client_view(client) | {"status": "disabled" if client.disabled else "enabled", "type": client.client_type}
        for client in found
    ]
    columns = [("CLIENT ID", "client_id"), ("NAME", "name"), ("TYPE", "type"), ("STATUS", "status")]
    columns += [("GRANTS", "grant_types"), ("SCOPE", "scope")]
    echo_table(rows, columns, empty=f"no clients in tenant {tenant!r} (add one with: pixie clients create)")


@clients.command("show")
@click.argument("client_id")
@json_option
@tenant_option
@database_option
def show_client(client_id: str, as_json: bool, tenant: str, database_url: str) -> None:
    """Show CLIENT_ID's registration."""

    async def action(opened: Opened) -> Client:
        return await find_client(opened.storage, tenant, client_id)

    client = run_in_tenant(database_url, tenant, action)
    if as_json:
        echo_json(client_view(client))
    else:
        _echo_client(client)


@clients.command("update")
@click.argument("client_id")
@click.option("--name", help="Name shown on the sign-in and consent pages (empty: none).")
@click.option("--logo-uri", help="https URL of a logo shown beside the name (empty: none).")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI (repeatable; replaces all).")
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    type=click.Choice(GRANT_TYPES),
    help="Allowed grant (repeatable; replaces all).",
)
@click.option("--scope", help="Allowed scopes, space separated (replaces all; a scope taken away ends its tokens).")
@click.option("--audience", "audiences", multiple=True, help="Audience of its access tokens (repeatable; replaces).")
@click.option("--no-audience", is_flag=True, help="Remove every audience (tokens get the tenant's default).")
@click.option("--refresh-grace-seconds", type=click.IntRange(0, 60), help="Refresh grace window (0 = strict).")
@click.option("--access-token-ttl", type=click.IntRange(min=1), help="Access-token lifetime in seconds.")
@click.option("--refresh-idle-ttl", type=click.IntRange(min=1), help="Refresh idle timeout in seconds.")
@click.option("--refresh-absolute-ttl", type=click.IntRange(min=1), help="Refresh family lifetime in seconds.")
@json_option
@tenant_option
@database_option
def update_client_command(
    client_id: str,
    name: str | None,
    logo_uri: str | None,
    redirect_uris: tuple[str, ...],
    grant_types: tuple[str, ...],
    scope: str | None,
    audiences: tuple[str, ...],
    no_audience: bool,
    refresh_grace_seconds: int | None,
    access_token_ttl: int | None,
    refresh_idle_ttl: int | None,
    refresh_absolute_ttl: int | None,
    as_json: bool,
    tenant: str,
    database_url: str,
) -> None:
    """Change CLIENT_ID's registration; the options given replace what is stored, the rest stays."""
    if audiences and no_audience:
        raise click.UsageError("give --audience or --no-audience, not both")
    changes = ClientChanges(
        name=name,
        logo_uri=logo_uri,
        redirect_uris=redirect_uris or None,
        grant_types=grant_types or None,
        scopes=None if scope is None else scope.split(),
        audiences=() if no_audience else (audiences or None),
        refresh_grace_seconds=refresh_grace_seconds,
        access_token_ttl=access_token_ttl,
        refresh_idle_ttl=refresh_idle_ttl,
        refresh_absolute_ttl=refresh_absolute_ttl,
    )
    if changes == ClientChanges():
        raise click.UsageError("nothing to change: give at least one option (see --help)")

    async def action(opened: Opened) -> tuple[Client, EndedAccess | None]:
        changed = await update_client(opened.storage, tenant, client_id, changes)
        return changed.record, changed.ended

    client, ended = run_in_tenant(database_url, tenant, action)
    if as_json:
        echo_json(client_view(client) | {"ended": ended_view(ended)})
    else:
        _echo_client(client)
        echo_ended(ended)


@clients.command("rotate-secret")
@click.argument("client_id")
@click.option("--secret-stdin", is_flag=True, help="Read the new secret from standard input (default: generate one).")
@json_option
@tenant_option
@database_option
def rotate_secret(client_id: str, secret_stdin: bool, as_json: bool, tenant: str, database_url: str) -> None:
    """Give confidential client CLIENT_ID a new secret (printed once); the old one stops working."""
    secret: str | None = None
    if secret_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
        if not secret:
            raise InvalidRegistration("no secret on standard input")
        if len(secret) < 32:
            click.echo("pixie: warning: a secret shorter than 32 characters is weak; prefer a generated one", err=True)

    async def action(opened: Opened) -> tuple[Client, str]:
        rotated = await rotate_client_secret(opened.storage, tenant, client_id, secret)
        assert rotated.secret is not None
        return rotated.client, rotated.secret

    client, new_secret = run_in_tenant(database_url, tenant, action)
    if as_json:
        echo_json({"tenant": client.tenant_id, "client_id": client.client_id, "client_secret": new_secret})
        return
    echo_fields([("client id", client.client_id), ("client secret", new_secret)])
    click.echo("pixie: the secret is shown once; running servers accept only the new one within 5 s", err=True)


def _switch(client_id: str, disabled: bool, as_json: bool, tenant: str, database_url: str) -> None:
    async def action(opened: Opened) -> tuple[Client, EndedAccess | None]:
        changed = await set_client_disabled(opened.storage, tenant, client_id, disabled)
        return changed.record, changed.ended

    client, ended = run_in_tenant(database_url, tenant, action)
    if as_json:
        echo_json({"tenant": tenant, "client_id": client.client_id, "disabled": disabled, "ended": ended_view(ended)})
        return
    click.echo(f"client {client.client_id!r} {'disabled' if disabled else 'enabled'}")
    echo_ended(ended)


@clients.command("disable")
@click.argument("client_id")
@json_option
@tenant_option
@database_option
def disable_client(client_id: str, as_json: bool, tenant: str, database_url: str) -> None:
    """Disable CLIENT_ID and end its access: its refresh tokens are revoked, its live access tokens deny-listed."""
    _switch(client_id, True, as_json, tenant, database_url)


@clients.command("enable")
@click.argument("client_id")
@json_option
@tenant_option
@database_option
def enable_client(client_id: str, as_json: bool, tenant: str, database_url: str) -> None:
    """Enable CLIENT_ID again (its users sign in afresh: nothing ended comes back)."""
    _switch(client_id, False, as_json, tenant, database_url)


@clients.command("delete")
@click.argument("client_id")
@json_option
@tenant_option
@database_option
def delete_client_command(client_id: str, as_json: bool, tenant: str, database_url: str) -> None:
    """Delete CLIENT_ID with its consents, ending its access (refresh tokens revoked, access tokens deny-listed)."""

    async def action(opened: Opened) -> EndedAccess:
        return await delete_client(opened.storage, tenant, client_id)

    ended = run_in_tenant(database_url, tenant, action)
    if as_json:
        echo_json({"tenant": tenant, "client_id": client_id, "deleted": True, "ended": ended_view(ended)})
        return
    click.echo(f"client {client_id!r} deleted from tenant {tenant!r}")
    echo_ended(ended)
