"""ARCHITECTURE §6.1: exact redirect-URI matching, the loopback-port exception, and errors found before the
redirect URI is trusted shown on our own page — never redirected.

Spec: RFC 6749 §3.1.2, §3.1.2.3, §3.1.2.4, §4.1.2.1; RFC 9700 §2.1, §4.1.3, §4.11.2; RFC 8252 §7.3, §8.3;
OAuth 2.1 §2.3.1.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from pixie.management import InvalidRegistration, validate_redirect_uri
from spec.support import (
    ERROR_PAGE_TITLE,
    SPA_CB,
    WEB_CB,
    Browser,
    Pixie,
    assert_error_page,
    authorize_pairs,
    redirect_params,
)

# Each case: the request's parameters (a valid spa request changed as described) → our error page, status 400.
UNTRUSTED = [
    pytest.param(authorize_pairs(drop=["client_id"]), id="missing-client_id[RFC6749-4.1.2.1]"),
    pytest.param(authorize_pairs(client_id=""), id="empty-client_id[RFC6749-3.1]"),
    pytest.param(authorize_pairs(client_id="nobody"), id="unknown-client_id[RFC6749-4.1.2.1]"),
    pytest.param(authorize_pairs(client_id="disabled-app"), id="disabled-client[RFC6749-4.1.2.1]"),
    pytest.param(authorize_pairs(extra=[("client_id", "spa")]), id="repeated-client_id-same[RFC6749-3.1]"),
    pytest.param(authorize_pairs(extra=[("client_id", "spa-b")]), id="repeated-client_id[RFC6749-3.1]"),
    pytest.param(authorize_pairs(extra=[("redirect_uri", SPA_CB)]), id="repeated-redirect_uri-same[RFC6749-3.1]"),
    pytest.param(
        authorize_pairs(extra=[("redirect_uri", "https://evil.example/cb")]), id="repeated-redirect_uri[RFC6749-3.1]"
    ),
    pytest.param(
        authorize_pairs(redirect_uri="http://127.0.0.1:9999/unregistered"), id="not-registered[RFC9700-4.1.3]"
    ),
    pytest.param(authorize_pairs(redirect_uri=SPA_CB + "/extra"), id="extra-path-segment[RFC9700-4.1.3]"),
    pytest.param(authorize_pairs(redirect_uri=SPA_CB + "?x=1"), id="extra-query[RFC9700-4.1.3]"),
    pytest.param(authorize_pairs(redirect_uri="http://127.0.0.1:9999/CB"), id="different-case-path[RFC9700-4.1.3]"),
    pytest.param(authorize_pairs(redirect_uri=SPA_CB + "/"), id="trailing-slash[RFC9700-4.1.3]"),
    pytest.param(authorize_pairs(redirect_uri="https://127.0.0.1:9999/cb"), id="different-scheme[RFC9700-4.1.3]"),
    pytest.param(authorize_pairs(redirect_uri="http://127.0.0.2:9999/cb"), id="different-host[RFC9700-4.1.3]"),
    pytest.param(authorize_pairs(redirect_uri=SPA_CB + "#frag"), id="fragment[RFC6749-3.1.2]"),
    pytest.param(authorize_pairs(redirect_uri="http://127.0.0.1:9999/cb/../cb"), id="dot-segments[RFC9700-4.1.3]"),
    pytest.param(authorize_pairs(redirect_uri="http://127.0.0.1:9999/%63b"), id="percent-encoded[RFC9700-4.1.3]"),
    pytest.param(authorize_pairs(redirect_uri="https://evil.example/cb"), id="open-redirect-evil[RFC9700-4.11.2]"),
    pytest.param(
        authorize_pairs(redirect_uri="http://127.0.0.1.evil.example/cb"), id="open-redirect-suffix[RFC9700-4.11.2]"
    ),
    pytest.param(
        authorize_pairs(redirect_uri="http://127.0.0.1:9999@evil.example/cb"),
        id="open-redirect-userinfo[RFC9700-4.11.2]",
    ),
    pytest.param(
        authorize_pairs(redirect_uri="http://evil.example@127.0.0.1:9999/cb"), id="userinfo-on-loopback[RFC8252-7.3]"
    ),
    pytest.param(authorize_pairs(redirect_uri="//evil.example/cb"), id="scheme-relative[RFC6749-3.1.2]"),
    pytest.param(authorize_pairs(redirect_uri="/cb"), id="relative[RFC6749-3.1.2]"),
    pytest.param(authorize_pairs(redirect_uri="javascript:alert(1)//"), id="javascript-uri[RFC9700-4.1.3]"),
    pytest.param(
        authorize_pairs(client_id="web", redirect_uri="https://app.example/cb/extra"),
        id="web-extra-path[RFC9700-4.1.3]",
    ),
    pytest.param(
        authorize_pairs(client_id="web", redirect_uri="https://APP.example/cb"), id="web-host-case[RFC9700-4.1.3]"
    ),
    pytest.param(
        authorize_pairs(client_id="web", redirect_uri="https://app.example:443/cb"),
        id="web-explicit-port[RFC9700-4.1.3]",
    ),
    pytest.param(
        authorize_pairs(client_id="web", redirect_uri="https://app.example:8443/cb"), id="web-other-port[RFC9700-4.1.3]"
    ),
    pytest.param(
        authorize_pairs(client_id="web", redirect_uri="http://app.example/cb"), id="web-downgrade-http[RFC9700-4.1.3]"
    ),
    pytest.param(
        authorize_pairs(client_id="web", redirect_uri="https://app.example.evil.example/cb"),
        id="web-suffix-host[RFC9700-4.11.2]",
    ),
    pytest.param(
        authorize_pairs(client_id="web", redirect_uri="https://app.example@evil.example/cb"),
        id="web-userinfo[RFC9700-4.11.2]",
    ),
    pytest.param(
        authorize_pairs(client_id="web", redirect_uri="https://evil.example/?https://app.example/cb"),
        id="web-embedded[RFC9700-4.11.2]",
    ),
    pytest.param(
        authorize_pairs(client_id="spa2", drop=["redirect_uri"]), id="omitted-two-registered[RFC6749-3.1.2.3]"
    ),
    pytest.param(
        authorize_pairs(redirect_uri="https://evil.example/cb", response_type="token", drop=["code_challenge"]),
        id="bad-uri-wins-over-later-errors[RFC6749-4.1.2.1]",
    ),
    pytest.param(
        authorize_pairs(client_id="nobody", redirect_uri="https://evil.example/cb", prompt="none"),
        id="unknown-client-prompt-none[RFC6749-4.1.2.1]",
    ),
]


@pytest.mark.parametrize("pairs", UNTRUSTED)
def test_untrusted_request_is_shown_not_redirected(browser: Browser, pairs: list[tuple[str, str]]) -> None:
    """RFC 6749 §4.1.2.1 / §3.1.2.4: with a missing, invalid or mismatching client_id or redirect_uri the server
    MUST NOT redirect; RFC 9700 §4.1.3 exact matching; §4.11.2 no open redirector. Our page, 400, no Location."""
    response = browser.authorize(pairs)
    assert_error_page(response, 400)
    assert ERROR_PAGE_TITLE in response.text
    assert "invalid_request" in response.text
    assert "evil.example" not in response.text
    assert not any(name.startswith("pixie-") for name in response.cookies), "no pending request may be created"


# Client native registered http://127.0.0.1/cb and native6 http://[::1]/cb, both without a port: any port is
# accepted. Client spa registered http://127.0.0.1:9999/cb, naming its port: matched exactly.
LOOPBACK_ACCEPTED = [
    pytest.param("native", "http://127.0.0.1/cb", id="no-port-as-registered"),
    pytest.param("native", "http://127.0.0.1:1234/cb", id="any-port[RFC8252-7.3]"),
    pytest.param("native", "http://127.0.0.1:65535/cb", id="highest-port[RFC8252-7.3]"),
    pytest.param("native", "http://127.0.0.1:80/cb", id="default-port-written[RFC8252-7.3]"),
    pytest.param("native6", "http://[::1]:4321/cb", id="ipv6-any-port[RFC8252-7.3]"),
    pytest.param("spa", "http://127.0.0.1:9999/cb", id="pinned-port-as-registered"),
]


@pytest.mark.parametrize(("client_id", "redirect_uri"), LOOPBACK_ACCEPTED)
def test_loopback_redirect_any_port(alice: Browser, client_id: str, redirect_uri: str) -> None:
    """RFC 8252 §7.3: the server MUST allow any port for loopback IP redirect URIs — registered, as native apps do,
    without one; the response goes to exactly the presented URI, port included."""
    params = redirect_params(
        alice.authorize(authorize_pairs(client_id=client_id, redirect_uri=redirect_uri)), redirect_uri
    )
    assert "code" in params and "error" not in params


LOOPBACK_REFUSED = [
    pytest.param("spa", "http://127.0.0.1:1234/cb", id="pinned-port-other-port[RFC9700-4.1.3]"),
    pytest.param("spa", "http://127.0.0.1/cb", id="pinned-port-no-port[RFC9700-4.1.3]"),
    pytest.param("native", "http://127.0.0.1:1234/other", id="other-path"),
    pytest.param("native", "http://127.0.0.1:1234/cb/", id="other-port-trailing-slash"),
    pytest.param("native", "http://127.0.0.1:1234/cb?x=1", id="other-port-extra-query"),
    pytest.param("native", "http://127.0.0.1:1234/cb#x", id="other-port-fragment"),
    pytest.param("native", "http://localhost/cb", id="localhost-no-port[RFC8252-8.3]"),
    pytest.param("native", "http://localhost:1234/cb", id="localhost-other-port[RFC8252-8.3]"),
    pytest.param("native", "http://[::1]:9999/cb", id="ipv6-for-ipv4-registration"),
    pytest.param("native", "https://127.0.0.1:1234/cb", id="https-other-port"),
    pytest.param("native", "http://127.0.0.2:1234/cb", id="other-loopback-ip"),
    pytest.param("native", "http://2130706433:1234/cb", id="decimal-ip"),
    pytest.param("native", "http://127.1:1234/cb", id="short-ip"),
    pytest.param("native", "http://user@127.0.0.1:1234/cb", id="userinfo"),
    pytest.param("native6", "http://[::1]:4321/other", id="ipv6-other-path"),
    pytest.param("native6", "http://127.0.0.1:8888/cb", id="ipv4-for-ipv6-registration"),
]


@pytest.mark.parametrize(("client_id", "redirect_uri"), LOOPBACK_REFUSED)
def test_loopback_exception_is_only_the_port(alice: Browser, client_id: str, redirect_uri: str) -> None:
    """RFC 8252 §7.3 relaxes the port only, and only of a loopback URI registered without one; path, query, host
    and scheme still match exactly, and a registered port is kept (RFC 9700 §4.1.3). RFC 8252 §8.3: ``localhost``
    is not the loopback IP literal. Even a signed-in user gets our page."""
    response = alice.authorize(authorize_pairs(client_id=client_id, redirect_uri=redirect_uri))
    assert_error_page(response, 400)


def _admin_pairs(redirect_uri: str) -> list[tuple[str, str]]:
    return authorize_pairs(client_id="pixie-admin", redirect_uri=redirect_uri, scope="pixie:admin")


@pytest.mark.parametrize("signed_in", [False, True], ids=["fresh-browser", "signed-in"])
def test_dashboard_client_code_never_goes_to_another_port(
    pixie: Pixie, browser: Browser, alice: Browser, signed_in: bool
) -> None:
    """RFC 9700 §4.1.3: the dashboard's own client ``pixie-admin`` is registered with ``{issuer}/admin/callback``;
    on a loopback issuer, a listener on another port of the administrator's machine must not receive its
    ``pixie:admin`` code through one navigation of the administrator's browser. The request is refused on our page
    (never redirected); the exact URI starts the sign-in (the control)."""
    assert urlsplit(pixie.issuer).hostname == "127.0.0.1"
    agent = alice if signed_in else browser
    for attack in ("http://127.0.0.1:1/admin/callback", "http://127.0.0.1/admin/callback"):
        assert_error_page(agent.authorize(_admin_pairs(attack)), 400)
    started = browser.authorize(_admin_pairs(f"{pixie.issuer}/admin/callback"))
    assert started.status_code == 303 and urlsplit(started.headers["location"]).path == "/login"


def test_omitted_redirect_uri_uses_the_only_registered_one(alice: Browser) -> None:
    """RFC 6749 §3.1.2.3 / §4.1.1: redirect_uri is OPTIONAL when exactly one is registered; the response then goes
    to that one."""
    params = redirect_params(alice.authorize(authorize_pairs(drop=["redirect_uri"])), SPA_CB)
    assert "code" in params


def test_web_client_exact_uri_accepted(alice: Browser) -> None:
    """RFC 9700 §4.1.3: the exact registered https URI is accepted (the control for the refusals above)."""
    params = redirect_params(alice.authorize(authorize_pairs(client_id="web", redirect_uri=WEB_CB)), WEB_CB)
    assert "code" in params


REGISTRATION_REFUSED = [
    pytest.param("http://localhost:9999/cb", id="localhost[RFC8252-8.3]"),
    pytest.param("http://app.example/cb", id="http-non-loopback[RFC9700-2.1]"),
    pytest.param("https://app.example/cb#frag", id="fragment[RFC6749-3.1.2]"),
    pytest.param("/cb", id="relative[RFC6749-3.1.2]"),
    pytest.param("myapp:/cb", id="private-scheme-not-reverse-domain[RFC8252-7.1]"),
    pytest.param("http://127.0.0.1:99999/cb", id="bad-port[RFC3986-3.2.3]"),
]


@pytest.mark.parametrize("uri", REGISTRATION_REFUSED)
def test_registration_refuses_unsafe_redirect_uris(uri: str) -> None:
    """RFC 8252 §8.3: ``localhost`` is refused for native apps and confidential clients (the loopback rule is for IP
    literals only, so exact matching can never be widened to a name that DNS or /etc/hosts could point elsewhere; a
    public browser app on a development server may register it with its port: test_dev_redirect_uri.py); RFC 9700
    §2.1 / RFC 6749 §3.1.2: absolute, no fragment, https unless loopback."""
    with pytest.raises(InvalidRegistration):
        validate_redirect_uri(uri)
