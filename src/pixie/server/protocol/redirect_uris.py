"""Redirect URIs: exact matching with the loopback-port exception, and building the response URL.

The loopback exception (RFC 8252 §7.3) exists for native apps that listen on a port the operating system picks at
the time of the request; such an app registers its loopback URI without a port (``http://127.0.0.1/callback``),
and any port is then accepted. A registered loopback URI that names a port is matched exactly like any other: the
registrant said where it listens. This keeps, for one, the dashboard's own client (``{issuer}/admin/callback``
on a loopback issuer such as ``http://127.0.0.1:8000``) from sending its ``pixie:admin`` code to whatever else
listens on another port of the administrator's machine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlencode, urlsplit, urlunsplit

__all__ = ["add_query", "match_redirect_uri", "origin_of"]

_LOOPBACK_IPS = {"127.0.0.1", "::1"}

_CONTROL_OR_SPACE = re.compile("[\x00-\x20\x7f-\x9f]")
"""Characters no URI holds (RFC 3986 §2), which URL parsers drop or trim rather than refuse: the WHATWG URL
standard that browsers follow removes tab and newline anywhere and trims C0 controls and spaces at either end, and
:func:`urllib.parse.urlsplit` does the same. A presented redirect URI holding one is not the URI it would be matched
as (``redirect_uri=http://127.0.0.1:99%0a99/cb`` was matched, and redirected to, as port 9999), so it matches
nothing."""


def _is_loopback_http(uri: str) -> bool:
    try:
        parts = urlsplit(uri)
        return parts.scheme == "http" and parts.hostname in _LOOPBACK_IPS
    except ValueError:  # e.g. an unterminated IPv6 literal "http://[::1/cb"
        return False


def _names_no_port(uri: str) -> bool:
    """Whether the authority of ``uri`` has no port (not even an empty one: ``http://127.0.0.1:/cb`` names one)."""
    netloc = urlsplit(uri).netloc
    return not netloc.rpartition("]")[2].count(":")


def match_redirect_uri(registered: Sequence[str], presented: str) -> bool:
    """True iff ``presented`` equals a registered URI character for character — except that a registered ``http``
    loopback IP literal URI that names no port accepts any port, since native apps bind an ephemeral port.

    No normalisation: case, trailing slashes, extra path segments or query parameters all make a mismatch; a URI
    holding a control character or a space matches nothing. A registered loopback URI with a port is matched exactly
    (see the module docstring).

    Spec: RFC 3986 §2, RFC 9700 §4.1.3 (exact matching), RFC 8252 §7.3 (loopback, any port), OAuth 2.1 §2.3.1 and
    §8.4.2.
    """
    if _CONTROL_OR_SPACE.search(presented):
        return False  # before any comparison: see _CONTROL_OR_SPACE
    if presented in registered:
        return True
    if not _is_loopback_http(presented):
        return False
    try:
        want = urlsplit(presented)
        _ = want.port
    except ValueError:
        return False
    for candidate in registered:
        if not _is_loopback_http(candidate) or not _names_no_port(candidate):
            continue
        have = urlsplit(candidate)
        if (
            have.hostname == want.hostname
            and have.path == want.path
            and have.query == want.query
            and have.fragment == want.fragment
            and have.username is None
            and want.username is None
            and want.password is None
        ):
            return True
    return False


def add_query(uri: str, params: Sequence[tuple[str, str]]) -> str:
    """``uri`` with ``params`` appended to its query, keeping any query it had.

    Spec: RFC 6749 §3.1.2 (the redirection endpoint's query component must be retained), §4.1.2.
    """
    parts = urlsplit(uri)
    extra = urlencode(list(params))
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def origin_of(uri: str) -> str | None:
    """The web origin (scheme://host[:port]) of an http(s) URI, used to derive CORS origins; None otherwise."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}".lower()
