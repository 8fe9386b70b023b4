"""``pixie gateway``: run the token-checking reverse proxy (:mod:`pixie.resource.gateway`) with uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import os
from urllib.parse import urlsplit

import click
import uvicorn

from pixie.cli.main import cli
from pixie.resource.cors import normalize_origin
from pixie.resource.credentials import MemoryReplayCache, ReplayCache, ResourceDPoP
from pixie.resource.dpop_redis import RedisReplayCache
from pixie.resource.gateway import Gateway, RouteRule, parse_route
from pixie.resource.metadata import ResourceMetadata
from pixie.resource.verifier import JWTVerifier
from pixie.server.http_limits import HttpLimits, limited_httptools

__all__ = ["gateway"]

log = logging.getLogger(__name__)


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _routes(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[RouteRule, ...]:
    try:
        return tuple(parse_route(value) for value in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _origins(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return tuple(normalize_origin(value) for value in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.option("--upstream", required=True, help="Base URL of the API to protect.")
@click.option(
    "--issuer", required=True, help="Issuer whose tokens are accepted (its keys come from RFC 8414 discovery)."
)
@click.option(
    "--resource",
    metavar="URL",
    help="The API's resource identifier (RFC 8707, an https URL): serves its RFC 9728 metadata, names it in "
    "challenges, and is the default audience.",
)
@click.option(
    "--audience", help="Audience the tokens must name (default: --resource, else the issuer, Pixie's default)."
)
@click.option("--require-scope", "require_scope", multiple=True, help="Scope every request needs (repeatable).")
@click.option(
    "--route",
    "routes",
    multiple=True,
    callback=_routes,
    metavar="[METHOD ]PREFIX=SCOPES",
    help="Scopes for a path prefix, space-separated; the longest matching prefix wins (repeatable).",
)
@click.option("--public", "public_paths", multiple=True, metavar="PREFIX", help="Path prefix that needs no token.")
@click.option(
    "--forward-authorization",
    is_flag=True,
    help="Also pass the caller's Authorization header upstream (default: stripped; X-Pixie-* says who called).",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    callback=_origins,
    metavar="ORIGIN",
    help="Origin of a browser app that may call the API, e.g. https://app.example (repeatable).",
)
@click.option(
    "--public-origin",
    metavar="URL",
    help="The origin clients address (https://api.example) when a proxy in front changes it: DPoP proofs name it.",
)
@click.option(
    "--dpop-replay-redis",
    metavar="URL",
    help="Remember DPoP proofs in this Redis (redis://host:port/db), shared by every gateway instance "
    "(default: in this process only).",
)
@click.option("--insecure-allow-http", is_flag=True, help="Accept an http issuer off loopback (never in production).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
def gateway(
    upstream: str,
    issuer: str,
    resource: str | None,
    audience: str | None,
    require_scope: tuple[str, ...],
    routes: tuple[RouteRule, ...],
    public_paths: tuple[str, ...],
    forward_authorization: bool,
    cors_origins: tuple[str, ...],
    public_origin: str | None,
    dpop_replay_redis: str | None,
    insecure_allow_http: bool,
    host: str,
    port: int,
) -> None:
    """Run a reverse proxy that forwards only requests with a valid access token from ISSUER: a Bearer token, or a
    DPoP-bound token with its proof."""
    issuer = issuer.rstrip("/")
    if not upstream.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http(s) URL", param_hint="--upstream")
    if urlsplit(issuer).scheme != "https" and not _loopback(issuer):
        if not insecure_allow_http:
            raise click.BadParameter(
                "must be https off loopback (or pass --insecure-allow-http)", param_hint="--issuer"
            )
        log.warning("INSECURE: accepting tokens from an http issuer off loopback; its keys can be tampered with")
    if public_origin is not None and urlsplit(public_origin).scheme not in ("http", "https"):
        raise click.BadParameter("must be an http(s) origin", param_hint="--public-origin")
    metadata = None
    if resource is not None:
        scopes = [*require_scope, *(scope for rule in routes for scope in rule.scopes)]
        try:
            metadata = ResourceMetadata.of(resource, issuer, scopes_supported=scopes)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--resource") from None
    audience = audience or resource or issuer
    verifier = JWTVerifier(issuer, audience)
    replay: ReplayCache = RedisReplayCache(dpop_replay_redis) if dpop_replay_redis else MemoryReplayCache()
    app = Gateway(
        upstream,
        verifier,
        routes=routes,
        require_scopes=require_scope,
        public_paths=public_paths,
        forward_authorization=forward_authorization,
        cors_origins=cors_origins,
        dpop=ResourceDPoP(replay=replay, origin=public_origin),
        metadata=metadata,
    )
    click.echo(f"pixie gateway: http://{host}:{port} -> {upstream} (tokens from {issuer} for {audience})")
    if cors_origins:
        click.echo(f"  browser apps may call it from {', '.join(cors_origins)}")
    # proxy_headers=False: the gateway is the edge; X-Forwarded-For from a caller must not replace its address.
    uvicorn.run(
        app,
        http=limited_httptools(HttpLimits.from_env(os.environ)),  # the same bounded request heads as pixie serve
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        server_header=False,
        lifespan="on",
        proxy_headers=False,
    )
