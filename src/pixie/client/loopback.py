"""Native-app sign-in through the system browser and a loopback redirect.

:func:`login_with_browser` listens on ``127.0.0.1`` on a port the OS picks, sends the user's browser to the
authorization endpoint with redirect URI ``http://127.0.0.1:{port}/callback``, and when the browser comes back
redeems the code (PKCE S256), shows a small "you can close this window" page and returns the tokens.

Why this shape: RFC 8252 §7.3 (loopback redirect, any port), §8.3 (an IP literal, not ``localhost``, so no DNS or
firewall surprise), §8.1 and §8.12 (PKCE, the system browser rather than an embedded view).
"""

from __future__ import annotations

import html
import os
import sys
import threading
import webbrowser
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx

from pixie.client.dpop import DPoPKey
from pixie.client.errors import ProtocolViolation, ServerRefused
from pixie.client.models import AuthorizationTransaction, TokenSet
from pixie.client.sync import OAuthClient

__all__ = ["login_with_browser"]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; background: #f5f6f8; color: #1d2330; margin: 0; }}
main {{ max-width: 28rem; margin: 12vh auto; background: #fff; border-radius: 12px; padding: 2rem 2.25rem;
       box-shadow: 0 1px 3px rgba(0,0,0,.12); }}
h1 {{ font-size: 1.35rem; margin: 0 0 .75rem; }}
.mark {{ font-size: 2rem; color: {colour}; }}
p {{ margin: .5rem 0; }} .hint {{ color: #5b6475; }}
</style></head>
<body><main><div class="mark">{mark}</div><h1>{title}</h1><p>{message}</p>
<p class="hint" id="close-hint">You can close this window and return to your terminal.</p></main></body></html>
"""
_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    # The page's URL holds the authorization code: never send it anywhere, never let anyone frame the page.
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


class _CallbackServer(ThreadingHTTPServer):
    """Waits for the one authorization response that carries our ``state``; anything else is answered and ignored
    (any local web page can send the browser to our port, but it cannot know the state)."""

    daemon_threads = True

    def __init__(self, client: OAuthClient) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.client = client
        self.port: int = self.server_address[1]
        self.redirect_uri = f"http://127.0.0.1:{self.port}/callback"
        self.transaction: AuthorizationTransaction | None = None
        self.finished = threading.Event()
        self.tokens: TokenSet | None = None
        self.failure: Exception | None = None
        self._lock = threading.Lock()

    def complete(self, callback_url: str) -> tuple[int, str, str, bool]:
        """Process one callback: (HTTP status, page title, message, whether this ends the sign-in)."""
        with self._lock:
            if self.finished.is_set() or self.tokens is not None or self.failure is not None:
                return 409, "Sign-in already finished", "This sign-in has already been completed.", False
            assert self.transaction is not None
            try:
                self.tokens = self.client.complete_authorization(self.transaction, callback_url)
            except ProtocolViolation as exc:
                if exc.code == "state_mismatch":
                    return 400, "Not this sign-in", "This response does not belong to the sign-in in progress.", False
                self.failure = exc
                return 400, "Sign-in failed", f"The server's response was not valid: {exc}", True
            except ServerRefused as exc:
                self.failure = exc
                detail = f" ({exc.error_description})" if exc.error_description else ""
                return 400, "Sign-in was not completed", f"The server said: {exc.error}{detail}", True
            except Exception as exc:
                self.failure = exc
                return 502, "Sign-in failed", f"Could not finish signing in: {type(exc).__name__}", True
            return 200, "Signed in", f"You are signed in to {self.client.issuer}.", True


class _Handler(BaseHTTPRequestHandler):
    server: _CallbackServer
    timeout = 30  # a browser's idle pre-connection must not hold a thread for ever
    server_version = "pixie-login"
    sys_version = ""

    def do_GET(self) -> None:
        if self.headers.get("Host") != f"127.0.0.1:{self.server.port}":
            self._page(421, "Wrong address", "Open the sign-in link from the terminal again.")  # DNS rebinding
            return
        parts = urlsplit(self.path)
        if parts.path != "/callback":
            self._page(404, "Not found", "Nothing here.")
            return
        status, title, message, final = self.server.complete(f"{self.server.redirect_uri}?{parts.query}")
        self._page(status, title, message)
        if final:
            self.server.finished.set()  # only now: the page has been written before the caller may exit

    def _page(self, status: int, title: str, message: str) -> None:
        ok = status == 200
        body = _PAGE.format(
            title=html.escape(title),
            message=html.escape(message),
            mark="&#10003;" if ok else "&#9888;",
            colour="#1a7f37" if ok else "#b35900",
        ).encode("utf-8")
        self.send_response(status)
        for name, value in {**_HEADERS, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the request line carries the authorization code, which must never reach a log."""


def _can_open_browser() -> bool:
    # Without a display, webbrowser would fall back to a text browser inside the user's terminal.
    if sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _show(url: str, open_browser: bool | Callable[[str], object], timeout: float) -> None:
    if callable(open_browser):
        open_browser(url)
        return
    opened = open_browser and _can_open_browser() and webbrowser.open(url)
    lead = (
        "Your browser has been opened to sign in. If it did not open, visit this URL:"
        if opened
        else "Open this URL in a browser to sign in:"
    )
    print(f"{lead}\n\n    {url}\n\nWaiting up to {timeout:g} seconds for the sign-in...", file=sys.stderr, flush=True)


def login_with_browser(
    issuer: str,
    client_id: str,
    scope: str | None = None,
    *,
    open_browser: bool | Callable[[str], object] = True,
    timeout: float = 300.0,
    client_secret: str | None = None,
    http: httpx.Client | None = None,
    extra_params: Iterable[tuple[str, str]] = (),
    insecure_allow_http: bool = False,
    max_age: int | None = None,
    dpop: DPoPKey | bool = False,
    push: bool = False,
) -> TokenSet:
    """Sign the user in through their browser and return the tokens.

    ``open_browser``: True opens the system browser (and prints the URL as a fallback); False only prints the URL on
    stderr (headless machines, SSH sessions); a callable receives the URL and does what it likes with it. Raises
    :class:`TimeoutError` when no sign-in came back within ``timeout`` seconds, :class:`ServerRefused` when the
    server or the user refused, :class:`ProtocolViolation` when the response cannot be trusted.

    The client must be registered with the redirect URI ``http://127.0.0.1/callback`` (any port matches). With
    ``openid`` in ``scope`` the ID token is validated and its claims are the result's :attr:`TokenSet.claims`.
    ``dpop`` asks for DPoP-bound tokens (the key travels in the result, :attr:`TokenSet.dpop_key`); ``push`` sends
    the request through PAR first (as does a server that requires it).

    Spec: RFC 8252 §7.3, §8.3; RFC 7636; RFC 9207 §2.4.
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    with OAuthClient(
        issuer, client_id, client_secret, http=http, insecure_allow_http=insecure_allow_http, dpop=dpop, push=push
    ) as client:
        server = _CallbackServer(client)
        thread = threading.Thread(target=server.serve_forever, name="pixie-login-callback", daemon=True)
        thread.start()
        try:
            start = client.start_authorization(server.redirect_uri, scope, extra_params=extra_params, max_age=max_age)
            server.transaction = start.transaction
            _show(start.url, open_browser, timeout)
            if not server.finished.wait(timeout):
                raise TimeoutError(
                    f"no sign-in came back to {server.redirect_uri} within {timeout:g} seconds; "
                    "run the command again and finish signing in in the browser"
                )
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        if server.failure is not None:
            raise server.failure
        assert server.tokens is not None
        return server.tokens
