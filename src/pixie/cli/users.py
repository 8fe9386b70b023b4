"""``pixie users list|show|disable|enable|delete|set-password`` (``users create`` is in :mod:`pixie.cli.admin`).
What each change ends is :mod:`pixie.accounts`' to say."""

from __future__ import annotations

import sys
from typing import TypeVar

import click

from pixie.accounts import Changed, delete_user, find_user, set_user_disabled, set_user_password
from pixie.cli.admin import users
from pixie.cli.main import Opened, database_option, run_in_tenant, tenant_option
from pixie.cli.output import echo_fields, echo_json, echo_table, json_option
from pixie.cli.views import echo_ended, ended_view, user_view
from pixie.management import InvalidRegistration
from pixie.storage.records import User

__all__ = ["delete_user_command", "list_users", "set_password", "show_user"]

T = TypeVar("T")


def _status(user: User) -> str:
    return "disabled" if user.disabled else "enabled"


@users.command("list")
@json_option
@tenant_option
@database_option
def list_users(as_json: bool, tenant: str, database_url: str) -> None:
    """List the tenant's users (never their password hashes)."""

    async def action(opened: Opened) -> list[User]:
        return await opened.storage.users.list(tenant)

    found = run_in_tenant(database_url, tenant, action)
    if as_json:
        echo_json([user_view(user) for user in found])
        return
    rows = [user_view(user) | {"status": _status(user)} for user in found]
    columns = [("USERNAME", "username"), ("STATUS", "status"), ("ROLES", "roles"), ("SUB", "sub")]
    columns.append(("CREATED", "created_at"))
    echo_table(rows, columns, empty=f"no users in tenant {tenant!r} (add one with: pixie users create)")


@users.command("show")
@click.argument("username")
@json_option
@tenant_option
@database_option
def show_user(username: str, as_json: bool, tenant: str, database_url: str) -> None:
    """Show USERNAME."""

    async def action(opened: Opened) -> User:
        return await find_user(opened.storage, tenant, username)

    user = run_in_tenant(database_url, tenant, action)
    if as_json:
        echo_json(user_view(user))
        return
    view = user_view(user)
    echo_fields(
        [
            ("username", view["username"]),
            ("tenant", view["tenant"]),
            ("sub", view["sub"]),
            ("status", _status(user)),
            ("roles", view["roles"]),
            ("created", view["created_at"]),
        ]
    )


def _report(change: Changed[User], what: str, as_json: bool, extra: dict[str, object]) -> None:
    user = change.record
    if as_json:
        echo_json({"tenant": user.tenant_id, "username": user.username, **extra, "ended": ended_view(change.ended)})
        return
    click.echo(f"user {user.username!r} {what}")
    echo_ended(change.ended)


def _switch(username: str, disabled: bool, as_json: bool, tenant: str, database_url: str) -> None:
    async def action(opened: Opened) -> Changed[User]:
        return await set_user_disabled(opened.storage, tenant, username, disabled)

    change = run_in_tenant(database_url, tenant, action)
    _report(change, "disabled" if disabled else "enabled", as_json, {"disabled": disabled})


@users.command("disable")
@click.argument("username")
@json_option
@tenant_option
@database_option
def disable_user(username: str, as_json: bool, tenant: str, database_url: str) -> None:
    """Disable USERNAME: no more sign-ins; their sessions end and their refresh tokens are revoked."""
    _switch(username, True, as_json, tenant, database_url)


@users.command("enable")
@click.argument("username")
@json_option
@tenant_option
@database_option
def enable_user(username: str, as_json: bool, tenant: str, database_url: str) -> None:
    """Enable USERNAME again (they sign in afresh: nothing ended comes back)."""
    _switch(username, False, as_json, tenant, database_url)


@users.command("delete")
@click.argument("username")
@json_option
@tenant_option
@database_option
def delete_user_command(username: str, as_json: bool, tenant: str, database_url: str) -> None:
    """Delete USERNAME with their consents; their sessions end and their refresh tokens are revoked."""

    async def action(opened: Opened) -> Changed[User]:
        return await delete_user(opened.storage, tenant, username)

    _report(run_in_tenant(database_url, tenant, action), f"deleted from tenant {tenant!r}", as_json, {"deleted": True})


@users.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@json_option
@tenant_option
@database_option
def set_password(username: str, password_stdin: bool, as_json: bool, tenant: str, database_url: str) -> None:
    """Give USERNAME a new password (Argon2id); their sessions end and their refresh tokens are revoked."""
    if not password_stdin:
        raise click.UsageError("pass the password on standard input with --password-stdin")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise InvalidRegistration("no password on standard input")

    async def action(opened: Opened) -> Changed[User]:
        return await set_user_password(opened.storage, tenant, username, password)

    _report(run_in_tenant(database_url, tenant, action), "has a new password", as_json, {"password_changed": True})
