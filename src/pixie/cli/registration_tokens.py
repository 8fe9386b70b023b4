"""``pixie registration-tokens create|list|revoke``: initial access tokens for dynamic client registration.

A tenant whose ``registration`` setting is ``token`` lets a client register at ``/register`` only with one of these
as its Bearer token (RFC 7591 §3). The token is printed once; the database keeps its SHA-256 only.
"""

from __future__ import annotations

import json

import click

from pixie.cli.main import cli, database_option, open_storage, run_async, tenant_option
from pixie.registration import create_registration_token, registration_views, revoke_registration_token

__all__ = ["registration_tokens"]


@cli.group("registration-tokens")
def registration_tokens() -> None:
    """Initial access tokens for dynamic client registration (RFC 7591)."""


@registration_tokens.command("create")
@click.option("--expires-in", type=click.IntRange(1), help="Lifetime in seconds (default: until revoked).")
@tenant_option
@database_option
def create(expires_in: int | None, tenant: str, database_url: str) -> None:
    """Create a token; print it as JSON (the token is shown only now)."""

    async def run() -> str:
        async with open_storage(database_url) as opened:
            issued = await create_registration_token(opened.storage, tenant, expires_in=expires_in)
            view = registration_views([issued.record])[0]
            return json.dumps({"tenant": tenant, **view, "token": issued.token})

    click.echo(run_async(run()))
    click.echo(
        "keep the token: it is shown only now; clients send it as 'Authorization: Bearer' to /register", err=True
    )


@registration_tokens.command("list")
@tenant_option
@database_option
def list_tokens(tenant: str, database_url: str) -> None:
    """List the tenant's tokens (ids and expiry, never the tokens) as JSON."""

    async def run() -> str:
        async with open_storage(database_url) as opened:
            return json.dumps(registration_views(await opened.storage.registration_tokens.list(tenant)), indent=2)

    click.echo(run_async(run()))


@registration_tokens.command("revoke")
@click.argument("token_id")
@tenant_option
@database_option
def revoke(token_id: str, tenant: str, database_url: str) -> None:
    """Revoke the token TOKEN_ID (clients it registered stay)."""

    async def run() -> None:
        async with open_storage(database_url) as opened:
            await revoke_registration_token(opened.storage, tenant, token_id)

    run_async(run())
    click.echo(json.dumps({"tenant": tenant, "token_id": token_id, "revoked": True}))
