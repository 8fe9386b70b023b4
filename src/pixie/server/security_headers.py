"""Pure-ASGI middleware adding browser-hardening headers to every response (ARCHITECTURE §6.5).

Pages never need to be framed, never load third-party resources and carry no inline script, so one strict policy
fits all of them; JSON responses get the same headers at no cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeaders", "content_security_policy"]


def content_security_policy(redirect_targets: Sequence[str] = ()) -> str:
    """The pages' policy. ``form-action`` also governs where a form submission may be *redirected*, so the login
    and consent pages allow the pending request's (already validated) redirect URI as well."""
    sources = ["'self'"]
    for uri in redirect_targets:
        parts = urlsplit(uri)
        if parts.scheme in ("http", "https"):
            sources.append(f"{parts.scheme}://{parts.netloc}")
        elif parts.scheme:
            sources.append(f"{parts.scheme}:")
    return (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        f"form-action {' '.join(dict.fromkeys(sources))}; frame-ancestors 'none'; base-uri 'none'"
    )


_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", content_security_policy().encode("ascii")),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]
_NAMES = frozenset(name for name, _ in _HEADERS)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                extra = _HEADERS
                if any(name.lower() in _NAMES for name, _ in headers):  # rare: a page with its own policy
                    present = {name.lower() for name, _ in headers}
                    extra = [(name, value) for name, value in _HEADERS if name not in present]
                message = {**message, "headers": [*headers, *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
