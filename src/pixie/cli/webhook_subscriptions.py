"""``pixie webhooks add|list|remove``: a tenant's signed event deliveries (see :mod:`pixie.webhooks`).

Running servers pick changes up within the tenant cache's lifetime (10 s).
"""

from __future__ import annotations

import dataclasses
import json

import click

from pixie.cli.main import cli, database_option, open_storage, run_async, tenant_option
from pixie.config import ConfigError, validate_issuer
from pixie.events import FlowEvent
from pixie.storage.interfaces import Storage
from pixie.storage.records import Tenant
from pixie.webhooks import new_webhook, webhooks_from_settings, webhooks_to_settings

__all__ = ["webhooks"]


def _event_kinds() -> list[str]:
    kinds: list[str] = []
    pending: list[type[FlowEvent]] = [FlowEvent]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls is not FlowEvent:
            kinds.append(cls.kind)
    return sorted(kinds)


def _check_url(url: str) -> str:
    # The same rule as an issuer: https, or http on loopback only (a receiver on the same host, or a test).
    try:
        validate_issuer(url)
    except ConfigError:
        raise click.BadParameter(f"{url!r}: use an https URL (http only on loopback)") from None
    return url


async def _tenant(storage: Storage, name: str) -> Tenant:
    tenant = await storage.tenants.get(name)
    if tenant is None:
        raise click.ClickException(f"no tenant {name!r}")
    return tenant


@cli.group()
def webhooks() -> None:
    """Signed deliveries of flow events to your endpoints."""


@webhooks.command("add")
@click.argument("url")
@click.option("--event", "events", multiple=True, type=click.Choice(_event_kinds()), help="Event kind (repeatable).")
@tenant_option
@database_option
def add(url: str, events: tuple[str, ...], tenant: str, database_url: str) -> None:
    """Subscribe URL to events (all kinds when no --event); prints the signing secret once."""
    _check_url(url)

    async def store() -> str:
        async with open_storage(database_url) as opened:
            current = await _tenant(opened.storage, tenant)
            hooks = [hook for hook in webhooks_from_settings(current.settings.webhooks) if hook.url != url]
            hook, secret = new_webhook(opened.settings.master_key, tenant, url, events)
            settings = dataclasses.replace(current.settings, webhooks=webhooks_to_settings([*hooks, hook]))
            await opened.storage.tenants.update_settings(tenant, settings)
            return secret

    secret = run_async(store())
    click.echo(json.dumps({"tenant": tenant, "url": url, "events": list(events) or ["*"], "secret": secret}))
    click.echo("keep the secret: it is shown only now; receivers check Pixie-Signature with it", err=True)


@webhooks.command("list")
@tenant_option
@database_option
def list_hooks(tenant: str, database_url: str) -> None:
    """List subscriptions (never their secrets)."""

    async def read() -> list[dict[str, object]]:
        async with open_storage(database_url) as opened:
            current = await _tenant(opened.storage, tenant)
            return [
                {"url": hook.url, "events": list(hook.events) or ["*"]}
                for hook in webhooks_from_settings(current.settings.webhooks)
            ]

    click.echo(json.dumps(run_async(read()), indent=2))


@webhooks.command("remove")
@click.argument("url")
@tenant_option
@database_option
def remove(url: str, tenant: str, database_url: str) -> None:
    """Remove the subscription of URL."""

    async def drop() -> bool:
        async with open_storage(database_url) as opened:
            current = await _tenant(opened.storage, tenant)
            hooks = webhooks_from_settings(current.settings.webhooks)
            kept = [hook for hook in hooks if hook.url != url]
            settings = dataclasses.replace(current.settings, webhooks=webhooks_to_settings(kept))
            await opened.storage.tenants.update_settings(tenant, settings)
            return len(kept) != len(hooks)

    if not run_async(drop()):
        raise click.ClickException(f"no webhook for {url!r} in tenant {tenant!r}")
    click.echo(json.dumps({"tenant": tenant, "removed": url}))
