"""How clients, users and what a change ended look in ``--json`` output and in the lines people read."""

from __future__ import annotations

from typing import Any

import click

from pixie.cli.output import iso_time
from pixie.management import client_view as shared_client_view
from pixie.storage.records import Client, EndedAccess, User

__all__ = ["client_view", "echo_ended", "ended_view", "user_view"]


def client_view(client: Client) -> dict[str, Any]:
    """A client as ``--json`` shows it: the admin API's view, with the creation time in ISO 8601."""
    return {**shared_client_view(client), "created_at": iso_time(client.created_at)}


def ended_view(ended: EndedAccess | None) -> dict[str, int] | None:
    if ended is None:
        return None
    return {
        "refresh_families": ended.refresh_families,
        "access_tokens": ended.access_tokens,
        "sso_sessions": ended.sso_sessions,
        "admin_sessions": ended.admin_sessions,
    }


def echo_ended(ended: EndedAccess | None) -> None:
    """A line saying what a change ended (nothing when it ended nothing)."""
    if ended is None:
        return
    parts = [f"{ended.refresh_families} refresh-token famil{'y' if ended.refresh_families == 1 else 'ies'} revoked"]
    parts.append(f"{ended.access_tokens} access token{'' if ended.access_tokens == 1 else 's'} deny-listed")
    if ended.sso_sessions or ended.admin_sessions:
        parts.append(f"{ended.sso_sessions + ended.admin_sessions} session(s) ended")
    click.echo("ended: " + ", ".join(parts))


def user_view(user: User) -> dict[str, Any]:
    """A user as ``--json`` shows it: never the password hash."""
    return {
        "tenant": user.tenant_id,
        "username": user.username,
        "sub": user.user_id,
        "roles": list(user.roles),
        "name": user.name,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "email": user.email,
        "email_verified": user.email_verified,
        "disabled": user.disabled,
        "created_at": iso_time(user.created_at),
    }
