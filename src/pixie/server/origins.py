"""Is a state-changing browser request from this site? The ``Origin`` header, compared exactly.

Used by the endpoints that change state on a cookie alone, without a CSRF token of their own (``POST /logout``,
``POST /admin/logout``). The rule:

- ``Origin`` must be present, appear once, and be a serialized origin (``scheme://host[:port]``, nothing more)
  whose scheme, host and port equal the issuer's, a default port (80 for http, 443 for https) written or not.
  Tenants share their server's origin, so the issuer's path plays no part.
- ``Origin: null`` is refused: browsers send it from sandboxed frames, ``data:`` documents and after
  cross-origin redirects, i.e. exactly when the real origin is hidden.
- A request without ``Origin`` is refused too. Every current browser sends ``Origin`` on every POST, same-origin
  included (Fetch standard, "append a request Origin header"); only non-browser callers, which hold the cookie
  themselves and need no forgery, or browsers old enough to predate that omit it — and such a caller can send the
  header.

A prefix test (``startswith``) would let ``http://127.0.0.1:1`` stand for ``http://127.0.0.1:1234``, and SameSite=Lax
cookies do travel with such same-site requests from another port; hence the exact comparison.

Spec: RFC 6454 §4, §5 (origin of a URI, comparing origins), §7 (the ``Origin`` header); OWASP CSRF Prevention Cheat
Sheet, "Verifying origin with standard headers".
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
    """True iff ``origin_header`` is a serialized origin equal to the origin of ``issuer`` (see the module
    docstring for ``null``, a missing header and default ports).

    Spec: RFC 6454 §5 (two origins are the same iff scheme, host and port are identical), §7.
    """
    if origin_header is None or origin_header == "null":
        return False
    theirs, ours = _parsed_header(origin_header), _of_uri(issuer)
    return theirs is not None and theirs == ours


def from_issuer_origin(request: Request, issuer: str) -> bool:
    """Whether ``request`` carries exactly one ``Origin`` header, naming the issuer's origin.

    Spec: RFC 6454 §7.3 (the header holds one origin list; Pixie accepts exactly one origin).
    """
    values = request.headers.getlist("origin")
    return len(values) == 1 and same_origin(values[0], issuer)
