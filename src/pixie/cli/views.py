"""How clients, users and what a change ended look in ``--json`` output and in the lines people read."""

from __future__ import annotations

from typing import Any

import click

from pixie.cli.output import iso_time
from pixie.storage.records import Client, EndedAccess, User

__all__ = ["client_view", "echo_ended", "ended_view", "user_view"]


def client_view(client: Client) -> dict[str, Any]:
    """A client as ``--json`` shows it: everything but the secret's hash."""
    return {
        "tenant": client.tenant_id,
        "client_id": client.client_id,
        "name": client.name,
        "logo_uri": client.logo_uri,
        "client_type": client.client_type,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "scope": " ".join(client.scopes),
        "audiences": list(client.audiences),
        "refresh_grace_seconds": client.refresh_grace_seconds,
        "access_token_ttl": client.access_token_ttl,
        "refresh_idle_ttl": client.refresh_idle_ttl,
        "refresh_absolute_ttl": client.refresh_absolute_ttl,
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "disabled": client.disabled,
        "created_at": iso_time(client.created_at),
    }


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
