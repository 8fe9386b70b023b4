"""``pixie serve`` and ``pixie demo``: run the authorization server with uvicorn."""

from __future__ import annotations

import base64
import contextlib
import os

import click
import uvicorn

from pixie.cli.main import cli, database_option, open_storage, run_async
from pixie.config import Settings
from pixie.management import create_user, register_client
from pixie.storage.interfaces import AlreadyExists
from pixie.tenancy import DEFAULT_TENANT

__all__ = ["DEMO_CLIENT_ID", "DEMO_PASSWORD", "DEMO_SCOPES", "DEMO_USERNAME", "demo", "serve"]

DEMO_CLIENT_ID = "pixie-demo-spa"
DEMO_SCOPES = ("properties:read", "properties:write", "tenants:read")
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"  # noqa: S105  (a published demo login, printed at start-up)


def _default_issuer(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    return f"http://{shown}:{port}"


def _run_server(settings: Settings, host: str, port: int, workers: int) -> None:
    # Workers are separate processes that build the app from the environment: hand them the same settings.
    os.environ["PIXIE_DATABASE_URL"] = settings.database_url
    os.environ["PIXIE_ISSUER"] = settings.issuer
    os.environ["PIXIE_SECRET_KEY"] = base64.urlsafe_b64encode(settings.master_key).decode("ascii")
    uvicorn.run(
        "pixie.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
        server_header=False,
    )


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--issuer", help="Public base URL (default http://HOST:PORT). Must be https off loopback.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True)
@database_option
def serve(host: str, port: int, issuer: str | None, workers: int, database_url: str) -> None:
    """Run the authorization server (creates or migrates the schema and a first signing key if missing)."""
    issuer = issuer or _default_issuer(host, port)

    async def prepare() -> Settings:
        async with open_storage(database_url, issuer=issuer) as opened:
            return opened.settings

    settings = run_async(prepare())
    _run_server(settings, host, port, workers)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@database_option
def demo(host: str, port: int, database_url: str) -> None:
    """Seed the demo client and user, then serve them (prints URLs and the demo login)."""
    issuer = _default_issuer(host, port)

    async def seed() -> Settings:
        async with open_storage(database_url, issuer=issuer) as opened:
            with contextlib.suppress(AlreadyExists):
                await register_client(
                    opened.storage,
                    DEFAULT_TENANT,
                    DEMO_CLIENT_ID,
                    redirect_uris=[f"{issuer}/app/callback"],
                    public=True,
                    scopes=DEMO_SCOPES,
                )
            with contextlib.suppress(AlreadyExists):
                await create_user(opened.storage, DEFAULT_TENANT, DEMO_USERNAME, DEMO_PASSWORD)
            return opened.settings

    settings = run_async(seed())
    click.echo(
        "\n".join(
            [
                "Pixie demo",
                f"  issuer metadata  {issuer}/.well-known/oauth-authorization-server",
                f"  JWKS             {issuer}/jwks.json",
                f"  public client    {DEMO_CLIENT_ID}  (scopes: {' '.join(DEMO_SCOPES)})",
                f"  demo login       {DEMO_USERNAME} / {DEMO_PASSWORD}",
                "",
            ]
        )
    )
    _run_server(settings, host, port, 1)
