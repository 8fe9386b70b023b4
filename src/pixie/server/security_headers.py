"""Browser-hardening headers for every response (ARCHITECTURE §6.5), added by :class:`~pixie.server.edge.Edge`.

Pages never need to be framed, never load third-party resources and carry no inline script, so one strict policy
fits all of them; JSON responses get the same headers at no cost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ["HEADERS", "HEADER_NAMES", "content_security_policy"]

_SOURCE_SAFE = re.compile(r"[A-Za-z0-9.\-:\[\]]+")
"""A host and port that cannot end the source list or the directive (no space, ``;`` or ``,``)."""


def content_security_policy(redirect_targets: Sequence[str] = (), images: Sequence[str] = ()) -> str:
    """The pages' policy. ``form-action`` also governs where a form submission may be *redirected*, so the login
    and consent pages allow the pending request's (already validated) redirect URI as well. ``images`` are https
    URLs a page shows (a client's logo, checked at registration): their origin, and nothing else, joins
    ``img-src``."""
    sources = ["'self'"]
    for uri in redirect_targets:
        parts = urlsplit(uri)
        if parts.scheme in ("http", "https"):
            sources.append(f"{parts.scheme}://{parts.netloc}")
        elif parts.scheme:
            sources.append(f"{parts.scheme}:")
    image_sources = ["'self'", "data:"]
    for uri in images:
        parts = urlsplit(uri)
        if parts.scheme == "https" and parts.netloc and _SOURCE_SAFE.fullmatch(parts.netloc):
            image_sources.append(f"https://{parts.netloc}")
    return (
        f"default-src 'none'; style-src 'self'; img-src {' '.join(dict.fromkeys(image_sources))}; "
        f"form-action {' '.join(dict.fromkeys(sources))}; frame-ancestors 'none'; base-uri 'none'"
    )


HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", content_security_policy().encode("ascii")),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]
"""Added to every response by :class:`~pixie.server.edge.Edge`, except those a response sets itself."""
HEADER_NAMES = frozenset(name for name, _ in HEADERS)
