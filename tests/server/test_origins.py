"""The one same-origin check of state-changing browser requests (:mod:`pixie.server.origins`), table-driven.

Spec: RFC 6454 §4 (origin of a URI: scheme, host, port — the default port when none is written), §5 (same origin
iff all three are identical), §6.2 (serialization), §7 (the ``Origin`` header, ``null``).
"""

from __future__ import annotations

import pytest
from starlette.requests import Request

from pixie.server.origins import from_issuer_origin, same_origin

SAME = [
    pytest.param("http://127.0.0.1:8000", "http://127.0.0.1:8000", id="identical"),
    pytest.param("http://127.0.0.1:8000", "http://127.0.0.1:8000/t/acme", id="tenant-path-of-the-issuer"),
    pytest.param("https://auth.example", "https://auth.example:443", id="default-port-written-in-issuer"),
    pytest.param("https://auth.example:443", "https://auth.example", id="default-port-written-in-origin"),
    pytest.param("http://auth.example:80", "http://auth.example/", id="http-default-port"),
    pytest.param("https://Auth.Example", "https://auth.example", id="host-case[RFC6454-4]"),
    pytest.param("http://[::1]:8000", "http://[::1]:8000", id="ipv6"),
]

DIFFERENT = [
    pytest.param("http://127.0.0.1:1", "http://127.0.0.1:1234", id="prefix-of-the-port"),
    pytest.param("http://127.0.0.1", "http://127.0.0.1:1234", id="prefix-without-port"),
    pytest.param("http://127.0.0.1:12345", "http://127.0.0.1:1234", id="longer-port"),
    pytest.param("http://127.0.0.1:80", "http://127.0.0.1:8000", id="default-port-vs-other"),
    pytest.param("https://auth.example", "http://auth.example", id="scheme"),
    pytest.param("https://auth.example:8443", "https://auth.example", id="port"),
    pytest.param("https://auth.example.evil.example", "https://auth.example", id="suffix-host"),
    pytest.param("https://evil.example", "https://auth.example", id="other-site"),
    pytest.param("null", "https://auth.example", id="null[RFC6454-7.3]"),
    pytest.param(None, "https://auth.example", id="missing"),
    pytest.param("", "https://auth.example", id="empty"),
    pytest.param("https://auth.example/", "https://auth.example", id="trailing-slash"),
    pytest.param("https://auth.example/path", "https://auth.example", id="path"),
    pytest.param("https://user@auth.example", "https://auth.example", id="userinfo"),
    pytest.param("https://auth.example?", "https://auth.example", id="query"),
    pytest.param("https://auth.example#", "https://auth.example", id="fragment"),
    pytest.param(" https://auth.example", "https://auth.example", id="whitespace"),
    pytest.param("HTTPS://auth.example", "https://auth.example", id="not-a-serialization"),
    pytest.param("https://auth.example:0", "https://auth.example", id="port-zero"),
    pytest.param("https://auth.example:99999", "https://auth.example", id="port-out-of-range"),
    pytest.param("https://auth.example, https://auth.example", "https://auth.example", id="origin-list"),
    pytest.param("ftp://auth.example", "ftp://auth.example", id="not-http"),
    pytest.param("https://auth.example", "not a url", id="issuer-not-a-url"),
    pytest.param("https://auth.example", "https://auth.example:bad", id="issuer-bad-port"),
    pytest.param("https://auth.ex\u00e4mple", "https://auth.ex\u00e4mple", id="non-ascii"),
]


@pytest.mark.parametrize(("origin", "issuer"), SAME)
def test_same_origin(origin: str, issuer: str) -> None:
    assert same_origin(origin, issuer)


@pytest.mark.parametrize(("origin", "issuer"), DIFFERENT)
def test_not_the_same_origin(origin: str | None, issuer: str) -> None:
    assert not same_origin(origin, issuer)


def _request(*origins: str, fetch_site: tuple[str, ...] = ()) -> Request:
    headers = [(b"origin", value.encode("latin-1")) for value in origins]
    headers += [(b"sec-fetch-site", value.encode("ascii")) for value in fetch_site]
    return Request({"type": "http", "method": "POST", "path": "/logout", "headers": headers})


OURS = "https://auth.example"


@pytest.mark.parametrize(
    ("origins", "fetch_site", "accepted"),
    [
        pytest.param((OURS,), (), True, id="ours"),
        pytest.param((OURS,), ("cross-site",), True, id="ours-whatever-fetch-metadata-says"),
        pytest.param(("https://evil.example",), ("same-origin",), False, id="foreign-not-rescued-by-fetch-metadata"),
        pytest.param((OURS, OURS), (), False, id="origin-twice[RFC6454-7.3]"),
        pytest.param((OURS, "https://evil.example"), (), False, id="two-origins"),
        pytest.param(("null",), ("same-origin",), True, id="null-from-our-own-no-referrer-page"),
        pytest.param(("null",), (), False, id="null-alone[RFC6454-7.3]"),
        pytest.param(("null",), ("same-site",), False, id="null-from-another-port-of-the-host"),
        pytest.param(("null",), ("cross-site",), False, id="null-from-a-sandboxed-frame"),
        pytest.param(("null",), ("none",), False, id="null-user-initiated"),
        pytest.param(("null",), ("same-origin", "same-origin"), False, id="fetch-metadata-twice"),
        pytest.param((), ("same-origin",), True, id="no-origin-same-origin"),
        pytest.param((), (), False, id="no-origin-no-fetch-metadata"),
    ],
)
def test_origin_header_and_fetch_metadata(
    origins: tuple[str, ...], fetch_site: tuple[str, ...], accepted: bool
) -> None:
    """RFC 6454 §7.3: one ``Origin`` header, exactly ours; W3C Fetch Metadata §2.1: a hidden origin (``null``, as
    every form POST of a ``no-referrer`` page sends, or none) counts only with the browser's
    ``Sec-Fetch-Site: same-origin``."""
    assert from_issuer_origin(_request(*origins, fetch_site=fetch_site), OURS + "/t/acme") is accepted
