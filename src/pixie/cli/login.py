"""``pixie login``: sign in as a native app through the system browser and print the token response (with
``--scope openid`` the validated ID token's claims too, as ``id_token_claims``).

With ``--token-file`` the session is kept in a file only you can read (0600) and reused on the next run: a still
valid access token is printed as is, an expiring one is refreshed first, and the browser opens only when the file
holds no usable session (none yet, or the server refused the refresh token).

Spec: RFC 8252 §7.3 (loopback redirect), RFC 6749 §5.1 (the printed response).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import httpx

from pixie.cli.main import cli
from pixie.client import FileTokenStore, OAuthClient, ServerRefused, TokenSet, login_with_browser
from pixie.client.discovery import check_url
from pixie.client.dpop import DPoPKey

__all__ = ["login"]


def _issuer(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return check_url(value, "issuer")
    except ValueError:
        raise click.BadParameter(f"{value!r} must be an https URL (http only on 127.0.0.1 or [::1])") from None


def _reuse(store: FileTokenStore, issuer: str, client_id: str) -> TokenSet | None:
    """The stored session, refreshed if it is due; None when there is none or the server no longer accepts it."""
    if store.load() is None:
        return None
    with OAuthClient(issuer, client_id) as client:
        manager = client.token_manager(store=store)
        try:
            manager.access_token()
        except ServerRefused as exc:
            if exc.error != "invalid_grant":
                raise
            return None  # the manager has cleared the file: sign in again
        except LookupError:
            return None
        return manager.tokens


@cli.command()
@click.option("--issuer", required=True, callback=_issuer, help="The authorization server's issuer URL.")
@click.option("--client-id", required=True, help="A public client registered with http://127.0.0.1/callback.")
@click.option("--scope", help='Space-separated scopes, e.g. "properties:read tenants:read".')
@click.option("--no-browser", is_flag=True, help="Print the sign-in URL instead of opening a browser.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Seconds to wait for the browser to come back.",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the session in this file (mode 0600) and reuse it on later runs.",
)
@click.option("--dpop", is_flag=True, help="Ask for DPoP-bound tokens (a new key; kept in --token-file).")
@click.option("--par", is_flag=True, help="Push the authorization request first (RFC 9126).")
def login(
    issuer: str,
    client_id: str,
    scope: str | None,
    no_browser: bool,
    timeout: float,
    token_file: Path | None,
    dpop: bool,
    par: bool,
) -> None:
    """Sign in through the browser (RFC 8252 loopback redirect) and print the token response as JSON."""
    store = FileTokenStore(token_file, binding=f"{issuer} {client_id} {scope or ''}") if token_file else None
    try:
        tokens = _reuse(store, issuer, client_id) if store is not None else None
        if tokens is None:
            tokens = login_with_browser(
                issuer, client_id, scope, open_browser=not no_browser, timeout=timeout, dpop=dpop, push=par
            )
            if store is not None:
                store.save(tokens)
    except httpx.TransportError as exc:
        # One line, with the server named: "ConnectError: All connection attempts failed" alone says too little.
        raise ConnectionError(f"cannot reach {issuer}: {exc or type(exc).__name__}") from None
    printed = tokens.as_response()
    if tokens.dpop_key is not None:
        printed["dpop_jkt"] = DPoPKey.from_jwk(tokens.dpop_key).thumbprint  # the key itself stays in the file
    if tokens.claims is not None:
        printed["id_token_claims"] = dict(tokens.claims)  # validated: signature, iss, aud, exp, nonce
    click.echo(json.dumps(printed, indent=2))
