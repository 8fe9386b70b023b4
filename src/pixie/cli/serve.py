"""``pixie serve`` and ``pixie demo``: run the authorization server (and for the demo, the Property API and the
SPA beside it) with uvicorn."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

import click
import uvicorn
from uvicorn.config import STARTUP_FAILURE

from pixie.cli.main import cli, database_option, open_storage, run_async
from pixie.cli.workers import bind_listeners, run_workers
from pixie.config import Settings, parse_forwarded_allow_ips
from pixie.demo import config as demo_config
from pixie.demo.seed import seed_pixie
from pixie.server.uvicorn_options import uvicorn_options

__all__ = ["DEMO_CLIENT_ID", "DEMO_SCOPES", "DEMO_USERS", "demo", "serve"]

DEMO_CLIENT_ID = demo_config.CLIENT_ID
DEMO_SCOPES = demo_config.SCOPES
DEMO_USERS = demo_config.USERS
"""alice (property manager) and bob (read only), with published demo passwords printed at start-up."""

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("pixie.server")

SHUTDOWN_GRACE_SECONDS = 20
"""After SIGTERM, in-flight requests get this long to finish (under the 30 s a Kubernetes pod gets before SIGKILL);
connections still busy then are closed. New connections are refused from the first moment."""


def _default_issuer(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    return f"http://{shown}:{port}"


def _exit_after_graceful_stop(signum: int, frame: FrameType | None) -> None:
    # uvicorn handles SIGTERM itself (refuse new connections, finish in-flight requests, run the lifespan shutdown),
    # then re-raises it to the handler found at start: this one, so a requested stop exits 0 (ARCHITECTURE §4)
    # instead of "killed by SIGTERM", as it already does with --workers N. Before uvicorn starts it just exits.
    raise SystemExit(0)


def _run_server(
    settings: Settings,
    sockets: list[socket.socket],
    workers: int,
    factory: str = "pixie.server.app:app_from_env",
) -> None:
    # Workers are separate processes that build the app from the environment: hand them the same settings.
    os.environ["PIXIE_DATABASE_URL"] = settings.database_url
    os.environ["PIXIE_ISSUER"] = settings.issuer
    os.environ["PIXIE_SECRET_KEY"] = base64.urlsafe_b64encode(settings.master_key).decode("ascii")
    os.environ["PIXIE_FORWARDED_ALLOW_IPS"] = ",".join(settings.forwarded_allow_ips)
    if "*" in settings.forwarded_allow_ips:
        log.warning("X-Forwarded-For is believed from any peer: only safe when nothing but the proxy can reach Pixie")
    signal.signal(signal.SIGTERM, _exit_after_graceful_stop)
    host, port = sockets[0].getsockname()[:2]
    config = uvicorn.Config(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        **uvicorn_options(settings),
    )
    if workers > 1:
        run_workers(config, sockets)
        return
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C: uvicorn has stopped gracefully, then re-raised SIGINT
        server.run(sockets=sockets)
    if not server.started:  # the app could not start (uvicorn has logged why)
        sys.exit(STARTUP_FAILURE)


def _forwarded_allow_ips_option(func: F) -> F:
    return click.option(
        "--forwarded-allow-ips",
        metavar="CIDR,...",
        help="Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: addresses or networks, comma "
        "separated, or '*' for any (PIXIE_FORWARDED_ALLOW_IPS). Default: none.",
    )(func)


def _with_forwarded(settings: Settings, trusted: tuple[str, ...] | None) -> Settings:
    """``--forwarded-allow-ips``, when given, wins over ``PIXIE_FORWARDED_ALLOW_IPS`` (already in ``settings``)."""
    return settings if trusted is None else dataclasses.replace(settings, forwarded_allow_ips=trusted)


def _parse_forwarded(option: str | None) -> tuple[str, ...] | None:
    return None if option is None else parse_forwarded_allow_ips(option, "--forwarded-allow-ips")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--issuer", help="Public base URL (default http://HOST:PORT). Must be https off loopback.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True)
@_forwarded_allow_ips_option
@database_option
def serve(
    host: str, port: int, issuer: str | None, workers: int, forwarded_allow_ips: str | None, database_url: str
) -> None:
    """Run the authorization server (creates or migrates the schema and a first signing key if missing)."""
    trusted = _parse_forwarded(forwarded_allow_ips)  # a typo fails before the database is touched
    # The address first: a port in use is one line before anything is migrated or printed (ARCHITECTURE §4).
    sockets = bind_listeners(host, port, workers)
    issuer = issuer or _default_issuer(host, sockets[0].getsockname()[1])

    async def prepare() -> Settings:
        async with open_storage(database_url, issuer=issuer) as opened:
            return opened.settings

    settings = _with_forwarded(run_async(prepare()), trusted)
    _run_server(settings, sockets, workers)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@_forwarded_allow_ips_option
@database_option
def demo(host: str, port: int, forwarded_allow_ips: str | None, database_url: str) -> None:
    """Seed and serve the demo: the authorization server, the Property API at /api and the SPA at /app on one
    port (prints the URL and the demo logins)."""
    trusted = _parse_forwarded(forwarded_allow_ips)
    sockets = bind_listeners(host, port, 1)  # before the banner: a port in use is one line (ARCHITECTURE §4)
    issuer = _default_issuer(host, port)

    async def seed() -> tuple[Settings, list[str]]:
        async with open_storage(database_url, issuer=issuer) as opened:
            return opened.settings, await seed_pixie(opened.storage, issuer)

    settings, warnings = run_async(seed())
    settings = _with_forwarded(settings, trusted)
    logins = [f"{u.username} / {u.password}".ljust(34) + u.access for u in DEMO_USERS]
    api = f"{issuer}{demo_config.API_PATH}"
    click.echo(
        "\n".join(
            [
                "Pixie demo",
                f"  open the app     {issuer}{demo_config.APP_PATH}/",
                f"  sign in as       {logins[0]}",
                *(f"                   {line}" for line in logins[1:]),
                f"  Property API     {api}  (OpenAPI document: {api}/openapi.json)",
                f"  flow analytics   {issuer}/admin  (sign in as admin)   metrics {issuer}/metrics",
                f"  issuer metadata  {issuer}/.well-known/oauth-authorization-server",
                f"  public client    {DEMO_CLIENT_ID}  (scopes: {' '.join(DEMO_SCOPES)})",
                f"  demo data        {demo_config.demo_database_path(settings.database_url)}",
                f"  audit log        {demo_config.demo_audit_log_path(settings.database_url) or 'PIXIE_AUDIT_LOG'}",
                *(f"  warning: {w}" for w in warnings),
                "",
            ]
        )
    )
    _run_server(settings, sockets, 1, factory="pixie.demo.app:demo_app_from_env")
