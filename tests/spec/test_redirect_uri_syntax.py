"""Redirect URIs are URIs: a presented one holding a control character or a space is refused at ``/authorize``
before any matching (our error page, never a redirect), and registration — ``pixie.management.register_client``,
``pixie clients create`` (exit 2, one line) and the admin API (400) — refuses a redirect URI whose host is not a host
name or IP address (``https://*.example.com/cb``), and anything else a redirect URI must not be: user information,
characters outside RFC 3986, IPv6 zones, IPvFuture, numeric last labels that are not IPv4 addresses.

Spec: RFC 3986 §2, §3.2.1, §3.2.2, §4.3; RFC 9110 §4.2.4 (no userinfo in http(s) URIs); RFC 1123 §2.1; RFC 6749
§3.1.2, §4.1.2.1; RFC 9700 §2.1, §4.1; RFC 8252 §7.1, §7.3; OAuth 2.1 §2.3.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from livesupport import cli_env, run_pixie
from pixie.management import InvalidRegistration, register_client, validate_redirect_uri
from pixie.storage.schema import open_storage
from spec.support import ERROR_PAGE_TITLE, Browser, assert_error_page, authorize_pairs

# Client spa registered http://127.0.0.1:9999/cb (any port on the loopback IP); web registered https://app.example/cb.
CONTROL_CHARACTERS = [
    pytest.param("spa", "http://127.0.0.1:99\n99/cb", id="newline-in-port"),
    pytest.param("spa", "http://127.0.0.1:9999/c\tb", id="tab-in-path"),
    pytest.param("spa", "http://127.0.0.1:9999/cb\r", id="trailing-cr"),
    pytest.param("spa", " http://127.0.0.1:9999/cb", id="leading-space"),
    pytest.param("spa", "http://127.0.0.1:9999/cb ", id="trailing-space"),
    pytest.param("spa", "\x01http://127.0.0.1:9999/cb", id="leading-c0"),
    pytest.param("spa", "http://127.0.0.1:9999/c\x7fb", id="del"),
    pytest.param("spa", "http://127.0.0.1:9999/cb\x85", id="c1-next-line"),
    pytest.param("spa", "http://127.0.0.1:1234/cb\x00", id="nul"),
    pytest.param("web", "https://app.example/cb\n", id="web-trailing-newline"),
    pytest.param("web", "https://app.exa\tmple/cb", id="web-tab-in-host"),
]


@pytest.mark.parametrize(("client_id", "redirect_uri"), CONTROL_CHARACTERS)
def test_control_characters_are_refused_before_matching(alice: Browser, client_id: str, redirect_uri: str) -> None:
    """Even for a signed-in user who has consented: our error page (400), no Location, no code anywhere."""
    response = alice.authorize(authorize_pairs(client_id=client_id, redirect_uri=redirect_uri))
    assert_error_page(response, 400)
    assert ERROR_PAGE_TITLE in response.text
    assert "location" not in response.headers
    assert "code=" not in response.text


REFUSED = [
    pytest.param("https://*.example.com/cb", id="wildcard-host[RFC9700-2.1]"),
    pytest.param("https://*/cb", id="wildcard-only[RFC9700-2.1]"),
    pytest.param("https://app.*.example/cb", id="wildcard-label[RFC9700-2.1]"),
    pytest.param("https://app%2eexample/cb", id="percent-encoded-host[RFC3986-3.2.2]"),
    pytest.param("https://app..example/cb", id="empty-label[RFC1123-2.1]"),
    pytest.param("https://app.example./cb", id="trailing-dot[RFC1123-2.1]"),
    pytest.param("https://-app.example/cb", id="leading-hyphen[RFC1123-2.1]"),
    pytest.param("https://app!.example/cb", id="sub-delim-in-host[RFC1123-2.1]"),
    pytest.param("https://" + "a" * 64 + ".example/cb", id="label-too-long[RFC1123-2.1]"),
    pytest.param("https://app.123/cb", id="numeric-last-label[RFC1123-2.1]"),
    pytest.param("https://0x7f.0.0.1/cb", id="hex-ipv4[RFC3986-3.2.2]"),
    pytest.param("https://01.2.3.4/cb", id="octal-looking-ipv4[RFC3986-3.2.2]"),
    pytest.param("https://2130706433/cb", id="decimal-ipv4[RFC3986-3.2.2]"),
    pytest.param("https://[fe80::1%25eth0]/cb", id="ipv6-zone[RFC3986-3.2.2]"),
    pytest.param("https://[v1.fe]/cb", id="ipvfuture[RFC3986-3.2.2]"),
    pytest.param("https://[::1/cb", id="unterminated-ipv6[RFC3986-3.2.2]"),
    pytest.param("https://user:pw@app.example/cb", id="userinfo-password[RFC9110-4.2.4]"),
    pytest.param("https://app.example@evil.example/cb", id="userinfo-lookalike[RFC9110-4.2.4]"),
    pytest.param("http://user@127.0.0.1/cb", id="userinfo-loopback[RFC9110-4.2.4]"),
    pytest.param("https://app.example:/cb", id="empty-port[RFC3986-3.2.3]"),
    pytest.param("https://app.example/c\x01b", id="control-character[RFC3986-2]"),
    pytest.param("https://app.example/cb\x7f", id="del[RFC3986-2]"),
    pytest.param("https://app.example/c\nb", id="newline[RFC3986-2]"),
    pytest.param("https://bücher.example/cb", id="non-ascii-host[RFC3986-2]"),
    pytest.param("https://app.example/caf\u00e9", id="non-ascii-path[RFC3986-2]"),
    pytest.param("https://app.example/c%zzb", id="bad-percent-encoding[RFC3986-2.1]"),
    pytest.param("https://app.example/cb|x", id="pipe[RFC3986-2]"),
    pytest.param('https://app.example/"cb"', id="quote[RFC3986-2]"),
    pytest.param("https://app.example/cb#", id="empty-fragment[RFC6749-3.1.2]"),
    pytest.param("com.example.app://*/cb", id="private-use-wildcard-host[RFC9700-2.1]"),
]

ACCEPTED = [
    "https://app.example/cb",
    "https://app.example:8443/cb?x=1&next=%2Fhome&at=a@b",
    "https://APP.Example/cb",
    "https://1.2.3.4/cb",
    "https://[2001:db8::1]:8443/cb",
    "https://xn--bcher-kva.example/cb",
    "https://a_b.example/cb",
    "https://localhost.example/cb",
    "http://127.0.0.1/cb",
    "http://127.0.0.1:9999/cb",
    "http://[::1]:8080/cb",
    "com.example.app:/oauth2redirect/example-provider",
    "com.example.app:/cb?x=1",
]


@pytest.mark.parametrize("uri", REFUSED)
def test_registration_refuses(uri: str) -> None:
    with pytest.raises(InvalidRegistration) as caught:
        validate_redirect_uri(uri)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message


@pytest.mark.parametrize("uri", ACCEPTED)
def test_registration_accepts(uri: str) -> None:
    assert validate_redirect_uri(uri) == uri


def test_register_client_refuses_a_wildcard_host(tmp_path: Path) -> None:
    async def register() -> None:
        async with open_storage(f"sqlite:///{tmp_path / 'pixie.db'}") as storage:
            await register_client(
                storage, "default", "wild", redirect_uris=["https://*.example.com/cb"], public=True, scopes=[]
            )

    with pytest.raises(InvalidRegistration, match=r"\*\.example\.com"):
        asyncio.run(register())


@pytest.mark.parametrize(
    ("uri", "needle"),
    [
        ("https://*.example.com/cb", "not a host name or IP address"),
        ("https://app.example/c\x01b", "character a URI cannot"),
        ("https://evil.example@app.example/cb", "user information"),
    ],
)
def test_the_cli_refuses_with_one_line(tmp_path: Path, uri: str, needle: str) -> None:
    env = cli_env(tmp_path, f"sqlite:///{tmp_path / 'pixie.db'}")
    result = run_pixie(["clients", "create", "wild", "--public", "--redirect-uri", uri], env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("pixie: error: ") and needle in errors[0], result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""

    async def stored() -> object:
        async with open_storage(f"sqlite:///{tmp_path / 'pixie.db'}") as storage:
            return await storage.clients.get("default", "wild")

    assert asyncio.run(stored()) is None
