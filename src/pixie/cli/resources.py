"""``pixie resources create|list|show|update|delete``: the tenant's protected resources (RFC 8707)."""

from __future__ import annotations

from typing import TypeVar

import click

from pixie.cli.main import Opened, cli, database_option, run_in_tenant, tenant_option
from pixie.cli.output import echo_fields, echo_json, echo_table, json_option
from pixie.protected_resources import (
    MAX_ACCESS_TOKEN_TTL,
    ResourceChanges,
    create_resource,
    delete_resource,
    find_resource,
    resource_view,
    update_resource,
)
from pixie.storage.records import Resource

__all__ = ["create_command", "delete_command", "list_command", "resources", "show_command", "update_command"]

T = TypeVar("T")

_TTL = click.IntRange(1, MAX_ACCESS_TOKEN_TTL)


@cli.group()
def resources() -> None:
    """Protected resources (APIs) that clients name with ``resource`` (RFC 8707)."""


def _echo(resource: Resource, as_json: bool) -> None:
    view = resource_view(resource)
    if as_json:
        echo_json(view)
        return
    ttl = resource.access_token_ttl
    echo_fields(
        [
            ("resource", view["resource"]),
            ("name", view["name"]),
            ("tenant", view["tenant"]),
            ("scope", view["scope"] or "any scope of the client"),
            ("access token TTL", "client or tenant default" if ttl is None else f"{ttl} s"),
            ("created", view["created_at"]),
        ]
    )


@resources.command("create")
@click.argument("uri")
@click.option("--name", default="", help='Name shown on the consent page, e.g. "Property API".')
@click.option("--scope", default="", help='Scopes the resource accepts, space separated (default: any), e.g. "a b".')
@click.option("--access-token-ttl", type=_TTL, help="Lifetime of its access tokens in seconds (default: client's).")
@json_option
@tenant_option
@database_option
def create_command(
    uri: str, name: str, scope: str, access_token_ttl: int | None, as_json: bool, tenant: str, database_url: str
) -> None:
    """Register the protected resource URI (an absolute URI without fragment); its tokens carry it as ``aud``."""

    async def action(opened: Opened) -> Resource:
        return await create_resource(
            opened.storage, tenant, uri, name=name, scopes=scope.split(), access_token_ttl=access_token_ttl
        )

    _echo(run_in_tenant(database_url, tenant, action), as_json)


@resources.command("list")
@json_option
@tenant_option
@database_option
def list_command(as_json: bool, tenant: str, database_url: str) -> None:
    """List the tenant's protected resources."""

    async def action(opened: Opened) -> list[Resource]:
        return await opened.storage.resources.list(tenant)

    found = run_in_tenant(database_url, tenant, action)
    if as_json:
        echo_json([resource_view(resource) for resource in found])
        return
    columns = [("RESOURCE", "resource"), ("NAME", "name"), ("SCOPE", "scope"), ("TOKEN TTL", "access_token_ttl")]
    echo_table(
        [resource_view(resource) for resource in found],
        columns,
        empty=f"no resources in tenant {tenant!r} (add one with: pixie resources create URI)",
    )


@resources.command("show")
@click.argument("uri")
@json_option
@tenant_option
@database_option
def show_command(uri: str, as_json: bool, tenant: str, database_url: str) -> None:
    """Show the protected resource URI."""

    async def action(opened: Opened) -> Resource:
        return await find_resource(opened.storage, tenant, uri)

    _echo(run_in_tenant(database_url, tenant, action), as_json)


@resources.command("update")
@click.argument("uri")
@click.option("--name", help="Name shown on the consent page.")
@click.option("--scope", help="Scopes the resource accepts, space separated (replaces all; empty: any).")
@click.option("--access-token-ttl", type=_TTL, help="Lifetime of its access tokens in seconds.")
@click.option("--no-access-token-ttl", is_flag=True, help="Use the client's or tenant's lifetime again.")
@json_option
@tenant_option
@database_option
def update_command(
    uri: str,
    name: str | None,
    scope: str | None,
    access_token_ttl: int | None,
    no_access_token_ttl: bool,
    as_json: bool,
    tenant: str,
    database_url: str,
) -> None:
    """Change the protected resource URI; the options given replace what is stored, the rest stays."""
    if access_token_ttl is not None and no_access_token_ttl:
        raise click.UsageError("give --access-token-ttl or --no-access-token-ttl, not both")
    changes = ResourceChanges(
        name=name,
        scopes=None if scope is None else tuple(scope.split()),
        access_token_ttl=access_token_ttl,
        clear_access_token_ttl=no_access_token_ttl,
    )
    if changes == ResourceChanges():
        raise click.UsageError("nothing to change: give at least one option (see --help)")

    async def action(opened: Opened) -> Resource:
        return await update_resource(opened.storage, tenant, uri, changes)

    _echo(run_in_tenant(database_url, tenant, action), as_json)


@resources.command("delete")
@click.argument("uri")
@json_option
@tenant_option
@database_option
def delete_command(uri: str, as_json: bool, tenant: str, database_url: str) -> None:
    """Delete the protected resource URI: no new tokens for it (those issued stay valid until they expire)."""

    async def action(opened: Opened) -> None:
        await delete_resource(opened.storage, tenant, uri)

    run_in_tenant(database_url, tenant, action)
    if as_json:
        echo_json({"tenant": tenant, "resource": uri, "deleted": True})
    else:
        click.echo(f"resource {uri!r} deleted from tenant {tenant!r}")
