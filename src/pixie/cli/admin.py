"""Administrative commands: ``clients``, ``users``, ``keys`` and ``db`` (``tenants`` has :mod:`pixie.cli.tenants`)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from pixie.cli.main import cli, database_option, open_storage, require_tenant, run_async, tenant_option
from pixie.cli.views import client_view
from pixie.config import DEFAULT_EVENTS_RETENTION_DAYS
from pixie.events import KeyRotated
from pixie.housekeeping import PurgeReport, purge, retire_after_for
from pixie.management import (
    GRANT_TYPES,
    ID_TOKEN_ALGS,
    InvalidRegistration,
    NotFound,
    Profile,
    create_user,
    register_client,
    update_user_profile,
)
from pixie.storage.interfaces import AlreadyExists
from pixie.storage.records import Client, User

__all__ = ["clients", "db", "keys", "users"]

F = TypeVar("F", bound=Any)


def _client_json(client: Client, secret: str | None) -> str:
    data = client_view(client)
    if secret is not None:
        data["client_secret"] = secret
    return json.dumps(data, indent=2)


@cli.group()
def clients() -> None:
    """Register and manage OAuth clients."""


@clients.command("create")
@click.argument("client_id")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI (repeatable).")
@click.option("--public", is_flag=True, help="Public client (SPA, mobile, CLI): no secret, PKCE only.")
@click.option("--secret", help="Caller-chosen secret (for migrations and tests).")
@click.option("--generate-secret", is_flag=True, help="Generate a 256-bit secret, printed once.")
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    type=click.Choice(GRANT_TYPES),
    help="Allowed grant (repeatable; default authorization_code + refresh_token).",
)
@click.option("--scope", default="", help='Allowed scopes, space separated, e.g. "properties:read tenants:read".')
@click.option("--audience", "audiences", multiple=True, help="Audience of its access tokens (repeatable).")
@click.option("--name", default="", help='Name shown on the sign-in and consent pages, e.g. "Property Manager".')
@click.option("--logo-uri", help="https URL of a logo shown beside the name.")
@click.option(
    "--refresh-grace-seconds",
    type=click.IntRange(0, 60),
    default=None,
    help="Window in which an identical refresh retry gets the same new pair (0 = strict reuse detection; "
    "default: the tenant's refresh grace setting, 0 unless changed).",
)
@click.option("--access-token-ttl", type=click.IntRange(min=1), help="Access-token lifetime in seconds.")
@click.option("--refresh-idle-ttl", type=click.IntRange(min=1), help="Refresh idle timeout in seconds.")
@click.option("--refresh-absolute-ttl", type=click.IntRange(min=1), help="Refresh family lifetime in seconds.")
@click.option(
    "--post-logout-redirect-uri",
    "post_logout_redirect_uris",
    multiple=True,
    help="Exact URI where OpenID Connect logout (end_session) may send the browser back (repeatable).",
)
@click.option(
    "--id-token-alg",
    type=click.Choice(ID_TOKEN_ALGS),
    default=None,
    help="Algorithm of this client's ID tokens (default: the tenant's signing algorithm).",
)
@click.option("--require-dpop", is_flag=True, help="Every token request must carry a DPoP proof (RFC 9449).")
@click.option("--require-par", is_flag=True, help="Authorization requests must be pushed first (RFC 9126).")
@tenant_option
@database_option
def create_client(
    client_id: str,
    redirect_uris: tuple[str, ...],
    public: bool,
    secret: str | None,
    generate_secret: bool,
    grant_types: tuple[str, ...],
    scope: str,
    audiences: tuple[str, ...],
    name: str,
    logo_uri: str | None,
    refresh_grace_seconds: int | None,
    access_token_ttl: int | None,
    refresh_idle_ttl: int | None,
    refresh_absolute_ttl: int | None,
    post_logout_redirect_uris: tuple[str, ...],
    id_token_alg: str | None,
    require_dpop: bool,
    require_par: bool,
    tenant: str,
    database_url: str,
) -> None:
    """Register CLIENT_ID and print it as JSON (a generated secret is shown once)."""
    if sum([public, secret is not None, generate_secret]) != 1:
        raise click.UsageError("choose exactly one of --public, --secret SECRET, --generate-secret")
    if secret is not None and len(secret) < 32:
        click.echo("pixie: warning: a secret shorter than 32 characters is weak; prefer --generate-secret", err=True)

    async def run() -> str:
        async with open_storage(database_url) as opened:
            found = await require_tenant(opened.storage, tenant)
            if id_token_alg is not None and id_token_alg != found.settings.signing_alg:
                # Publish the client's key now, well before its first ID token (a key is published before it signs).
                await opened.keyring.ensure(tenant, id_token_alg)
            try:
                created = await register_client(
                    opened.storage,
                    tenant,
                    client_id,
                    redirect_uris=redirect_uris,
                    public=public,
                    secret=secret,
                    grant_types=grant_types or ("authorization_code", "refresh_token"),
                    scopes=scope.split(),
                    audiences=audiences,
                    refresh_grace_seconds=refresh_grace_seconds,
                    access_token_ttl=access_token_ttl,
                    refresh_idle_ttl=refresh_idle_ttl,
                    refresh_absolute_ttl=refresh_absolute_ttl,
                    post_logout_redirect_uris=post_logout_redirect_uris,
                    id_token_signed_response_alg=id_token_alg,
                    dpop_bound_access_tokens=require_dpop,
                    require_pushed_authorization_requests=require_par,
                    name=name,
                    logo_uri=logo_uri,
                )
            except AlreadyExists:
                raise AlreadyExists(f"client {client_id!r} already exists in tenant {tenant!r}") from None
            return _client_json(created.client, created.secret if secret is None else None)

    click.echo(run_async(run()))


@cli.group()
def users() -> None:
    """Manage users."""


def _profile_options(func: F) -> F:
    """``--name --given-name --family-name --email --email-verified/--email-unverified``: the OpenID Connect
    standard claims a user's profile holds (Core §5.1)."""
    for option in reversed(
        [
            click.option("--name", help="Full name (the OpenID Connect name claim)."),
            click.option("--given-name", help="Given (first) name."),
            click.option("--family-name", help="Family (last) name."),
            click.option("--email", help="Email address."),
            click.option(
                "--email-verified/--email-unverified",
                default=None,
                help="Whether the email address is known to be the user's.",
            ),
        ]
    ):
        func = option(func)
    return func


def _user_json(tenant: str, user: User) -> str:
    return json.dumps(
        {
            "tenant": tenant,
            "username": user.username,
            "sub": user.user_id,
            "roles": list(user.roles),
            "name": user.name,
            "given_name": user.given_name,
            "family_name": user.family_name,
            "email": user.email,
            "email_verified": user.email_verified,
        }
    )


@users.command("create")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--role", "roles", multiple=True, help="Role (repeatable), e.g. admin.")
@_profile_options
@tenant_option
@database_option
def create_user_command(
    username: str,
    password_stdin: bool,
    roles: tuple[str, ...],
    name: str | None,
    given_name: str | None,
    family_name: str | None,
    email: str | None,
    email_verified: bool | None,
    tenant: str,
    database_url: str,
) -> None:
    """Create USERNAME with an Argon2id-hashed password (and, optionally, a profile)."""
    profile = Profile(name, given_name, family_name, email, email_verified)
    if not password_stdin:
        raise click.UsageError("pass the password on standard input with --password-stdin")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise InvalidRegistration("no password on standard input")

    async def run() -> str:
        async with open_storage(database_url) as opened:
            await require_tenant(opened.storage, tenant)
            try:
                user = await create_user(opened.storage, tenant, username, password, roles=roles, profile=profile)
            except AlreadyExists:
                raise AlreadyExists(f"user {username!r} already exists in tenant {tenant!r}") from None
            return _user_json(tenant, user)

    click.echo(run_async(run()))


@users.command("update")
@click.argument("username")
@_profile_options
@tenant_option
@database_option
def update_user_command(
    username: str,
    name: str | None,
    given_name: str | None,
    family_name: str | None,
    email: str | None,
    email_verified: bool | None,
    tenant: str,
    database_url: str,
) -> None:
    """Change USERNAME's profile; options left out stay as they are, an empty value clears one."""
    profile = Profile(name, given_name, family_name, email, email_verified)

    async def run() -> str:
        async with open_storage(database_url) as opened:
            await require_tenant(opened.storage, tenant)
            try:
                user = await update_user_profile(opened.storage, tenant, username, profile)
            except NotFound as exc:
                raise click.ClickException(str(exc)) from None
            return _user_json(tenant, user)

    click.echo(run_async(run()))


@cli.group()
def keys() -> None:
    """Signing keys: list and rotate."""


@keys.command("list")
@tenant_option
@database_option
def list_keys(tenant: str, database_url: str) -> None:
    """List the tenant's signing keys (kid, algorithm, state, dates)."""

    async def run() -> list[dict[str, object]]:
        async with open_storage(database_url) as opened:
            await require_tenant(opened.storage, tenant)
            rows: list[dict[str, object]] = []
            for key in await opened.keyring.list(tenant):
                rows.append(
                    {
                        "kid": key.kid,
                        "alg": key.alg,
                        "state": str(key.state),
                        "created": _iso(key.created_at),
                        "activated": _iso(key.activated_at),
                        "retired": _iso(key.retired_at),
                    }
                )
            return rows

    for row in run_async(run()):
        click.echo(json.dumps(row))


@keys.command("rotate")
@click.option(
    "--retire-after",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds a demoted key stays published (default: the longest access-token lifetime + 60 s).",
)
@tenant_option
@database_option
def rotate_keys(retire_after: float | None, tenant: str, database_url: str) -> None:
    """Promote the next key to active, demote the active key to retiring, create a new next key."""

    async def run() -> str:
        async with open_storage(database_url) as opened:
            found = await require_tenant(opened.storage, tenant)
            if retire_after is None:
                wait = await retire_after_for(opened.storage, tenant, found.settings.access_token_ttl)
            else:
                wait = retire_after
            report = await opened.keyring.rotate(tenant, alg=found.settings.signing_alg, retire_after=wait)
            await opened.storage.events.append([KeyRotated(tenant_id=tenant, kid=report.activated)])
            return json.dumps(asdict(report))

    click.echo(run_async(run()))


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command("purge")
@database_option
@click.option(
    "--events-retention-days",
    type=click.FloatRange(min=0),
    envvar="PIXIE_EVENTS_RETENTION_DAYS",
    default=DEFAULT_EVENTS_RETENTION_DAYS,
    show_default=True,
    help="Also delete flow events older than this many days (0 keeps them).",
)
def purge_command(database_url: str, events_retention_days: float) -> None:
    """Delete expired requests, codes, sessions, refresh families and deny-list entries, and old flow events, now;
    print the counts."""

    async def run() -> PurgeReport:
        async with open_storage(database_url) as opened:
            return await purge(opened.storage, time.time(), events_retention_days=events_retention_days)

    click.echo(json.dumps(asdict(run_async(run()))))


def _iso(value: float | None) -> str | None:
    return None if value is None else datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")
