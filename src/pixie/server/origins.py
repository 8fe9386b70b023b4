"""Is a state-changing browser request from this site? The ``Origin`` header compared exactly, and where the
browser hides the origin, its Fetch Metadata.

Used by the endpoints that change state on a cookie alone, without a CSRF token of their own (``POST /logout``,
``POST /admin/logout``). The rule:

- A request may carry at most one ``Origin`` header.
- An ``Origin`` that names an origin must be a serialized origin (``scheme://host[:port]``, nothing more) whose
  scheme, host and port equal the issuer's, a default port (80 for http, 443 for https) written or not. Tenants
  share their server's origin, so the issuer's path plays no part. A prefix test (``startswith``) would let
  ``http://127.0.0.1:1`` stand for ``http://127.0.0.1:1234``, and SameSite=Lax cookies do travel with such
  same-site requests from another port of the host; hence the exact comparison.
- ``Origin: null`` (or no ``Origin``) is accepted only with ``Sec-Fetch-Site: same-origin``. Browsers send
  ``null`` when the real origin is hidden: from sandboxed frames and ``data:`` documents, after cross-origin
  redirects — and for every form POST of a page whose referrer policy is ``no-referrer``, which is every Pixie page
  (RFC 9700 §4.2.4), the dashboard's own "Leave dashboard" form included. ``Sec-Fetch-Site`` is set by the browser
  alone (a forbidden header name, beyond the reach of page script) and says ``same-origin`` only when the request
  was initiated by a document of this very origin, through no cross-origin redirect; a forged request from any
  other page, same-site or not, says ``same-site`` or ``cross-site``. Every current browser sends ``Origin`` on
  every POST; a caller that sends neither header is not a browser, holds the cookie itself, and is refused (it can
  send ``Origin``). Browsers too old to send Fetch Metadata cannot sign out of a page that hides the origin.

Spec: RFC 6454 §4, §5 (origin of a URI, comparing origins), §7 (the ``Origin`` header); Fetch standard, "append a
request Origin header" (``null`` under ``no-referrer``); W3C Fetch Metadata Request Headers §2.1
(``Sec-Fetch-Site``); OWASP CSRF Prevention Cheat Sheet ("Verifying origin with standard headers", "Fetch
Metadata headers").
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.requests import Request

__all__ = ["from_issuer_origin", "same_origin"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 6454 §6.2 serialization as browsers send it: lower-case scheme, host (a name, an IPv4 address or a bracketed
# IPv6 address), an optional port; no userinfo, path, query or fragment.
_SERIALIZED_ORIGIN = re.compile(r"(https?)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?")

Origin = tuple[str, str, int]


def _parsed_header(value: str) -> Origin | None:
    match = _SERIALIZED_ORIGIN.fullmatch(value)
    if match is None:
        return None
    scheme, host, port = match.group(1), match.group(2).lower(), match.group(3)
    number = int(port) if port is not None else _DEFAULT_PORTS[scheme]
    if not 0 < number <= 65535:
        return None
    return scheme, host, number


def _of_uri(uri: str) -> Origin | None:
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return scheme, host.lower(), port if port is not None else _DEFAULT_PORTS[scheme]


def same_origin(origin_header: str | None, issuer: str) -> bool:
    """True iff ``origin_header`` is a serialized origin equal to the origin of ``issuer``, default ports
    normalised; ``null`` and a missing header are never equal to it.

    Spec: RFC 6454 §5 (two origins are the same iff scheme, host and port are identical), §7.
    """
    if origin_header is None or origin_header == "null":
        return False
    theirs, ours = _parsed_header(origin_header), _of_uri(issuer)
    return theirs is not None and theirs == ours


def from_issuer_origin(request: Request, issuer: str) -> bool:
    """Whether ``request`` comes from a page of the issuer's origin: its one ``Origin`` header names exactly that
    origin, or it hides the origin (``null`` or no header) and the browser's ``Sec-Fetch-Site`` says
    ``same-origin`` (see the module docstring).

    Spec: RFC 6454 §5, §7.3 (one origin list; Pixie accepts exactly one origin); W3C Fetch Metadata §2.1.
    """
    values = request.headers.getlist("origin")
    if len(values) > 1:
        return False
    if values and values[0] != "null":
        return same_origin(values[0], issuer)
    return request.headers.getlist("sec-fetch-site") == ["same-origin"]
