"""Hostile ``resource`` parameters (RFC 8707) at ``/authorize``, ``/par`` and ``/token`` on the real fuzz server.

Two resources are registered; requests name them, look-alikes of them (a trailing slash, another case, a
fragment, percent-encoded, with user information), hostile values (64 KiB, CR/LF, NUL, markup, malformed
percent-encoding) and many of them at once, repeated or mixed. Whatever the request, the answer:

* is never a 5xx, and carries no injected header;
* at ``/authorize``: a redirect only to the registered redirect URI (an error there is ``invalid_target`` or
  another registered code, with ``iss``), to Pixie's own login or consent page, or our 400 page;
* at ``/par`` and ``/token``: 2xx, or a JSON RFC 6749 §5.2 error with ``no-store``;
* when a token is issued, its ``aud`` is exactly the registered resources that were asked for — never a
  look-alike, never a resource the grant did not include (RFC 8707 §2.2: narrow, never widen).

Spec: RFC 8707 §2, §2.2; RFC 6749 §4.1.2.1, §5.2; RFC 9126 §2.3; RFC 9110 §5.5.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fuzz.hostile import decode, encode, hostile_values
from fuzz.oracles import REGISTERED_ERRORS, allowed_redirect, check_headers, check_json_error
from fuzz.support import TALLY, FuzzServer, RawResponse, examples, raw_get, raw_request
from livesupport import run_coroutine
from pixie.protected_resources import create_resource
from pixie.storage.schema import open_storage
from spec.support import SPA_CB, Browser, Pkce, authorize_pairs, redirect_params

ORDERS = "https://orders.example/api"
BILLING = "https://billing.example/"
REGISTERED = (ORDERS, BILLING)
LOOK_ALIKES = [
    "https://orders.example/api/",
    "https://orders.example/API",
    "HTTPS://orders.example/api",
    "https://orders.example/api#x",
    "https://orders.example/api?x=1",
    "https://orders.example:443/api",
    "https://user@orders.example/api",
    "https://orders.example/api/../api",
    "https://orders.example%2Fapi",
    "https://billing.example",
    "https://billing.example/\r\nSet-Cookie: injected=1",
    "//orders.example/api",
    "orders.example/api",
    "urn:example:unregistered",
]


@pytest.fixture(scope="module", autouse=True)
def registered(fuzz_server: FuzzServer) -> None:
    async def add() -> None:
        async with open_storage(f"sqlite:///{fuzz_server.pixie.db_path}") as storage:
            for identifier in REGISTERED:
                if await storage.resources.get("default", identifier) is None:
                    await create_resource(storage, "default", identifier, name=identifier)

    run_coroutine(add())
    # alice consents to spa for both resources, so that requests naming them get a code (and reach /token).
    pairs = authorize_pairs(prompt="consent", extra=[("resource", ORDERS), ("resource", BILLING)])
    with Browser(fuzz_server.pixie, cookies={"pixie-session": fuzz_server.alice_cookie}) as browser:
        consent = browser.follow(browser.authorize(pairs), "/consent")
        assert "code" in redirect_params(browser.submit_consent(consent), SPA_CB)


def resource_values() -> st.SearchStrategy[list[str]]:
    """Encoded ``resource`` values: registered ones, look-alikes and hostile ones, none to a dozen."""
    one = st.one_of(
        st.sampled_from(REGISTERED).map(encode),
        st.sampled_from(LOOK_ALIKES).map(encode),
        hostile_values(),
        st.just(""),
    )
    return st.lists(one, max_size=12)


def granted_values() -> st.SearchStrategy[list[str]]:
    """For ``/authorize``: half the time only registered resources (so a code is issued and ``/token`` is
    reached), else anything :func:`resource_values` draws."""
    return st.one_of(st.lists(st.sampled_from(REGISTERED).map(encode), max_size=3), resource_values())


def _named(encoded: list[str]) -> list[str | None]:
    """The values a server reads as present: every non-empty one (None: bytes that are not UTF-8, which a server
    reads as something, never as a registered identifier)."""
    return [decoded for decoded in (decode(value) for value in encoded) if decoded != ""]


def _audience(token: str) -> list[str]:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    aud = claims["aud"]
    return [aud] if isinstance(aud, str) else list(aud)


MAX_BODY = 60 * 1024
"""Bodies are kept under the server's 64 KiB limit: past it the answer is 413 before the body is read, and the
connection may be reset while it is still being sent (``test_request_bounds.py`` covers that limit)."""


def _fitting(values: list[str], budget: int = MAX_BODY - 2048) -> list[str]:
    """The first of ``values`` that fit in a body under :data:`MAX_BODY` beside the other fields."""
    kept: list[str] = []
    for value in values:
        budget -= len(value) + len("&resource=")
        if budget < 0:
            break
        kept.append(value)
    return kept


def _post(fuzz_server: FuzzServer, path: str, pairs: list[tuple[str, str]]) -> RawResponse:
    """A form POST sent byte for byte (values already encoded)."""
    body = "&".join(f"{name}={value}" for name, value in pairs).encode("ascii")
    host = urlsplit(fuzz_server.base).netloc
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return raw_request(fuzz_server.base, head.encode("ascii") + body)


def _check_json(response: RawResponse) -> dict[str, object]:
    assert response.status < 500, response
    check_headers(response)
    body: dict[str, object] = json.loads(response.body)
    if response.status >= 400:
        check_json_error(response.status, httpx.Headers(response.headers), response.body)
    return body


@dataclass(frozen=True)
class Granted:
    code: str | None
    verifier: str


def _authorize(fuzz_server: FuzzServer, resources: list[str]) -> tuple[RawResponse, Granted]:
    pkce = Pkce.new()
    pairs = [
        ("client_id", "spa"),
        ("redirect_uri", encode(SPA_CB)),
        ("response_type", "code"),
        ("code_challenge", pkce.challenge),
        ("code_challenge_method", "S256"),
        ("state", "s"),
        ("scope", "properties:read"),
        *(("resource", value) for value in resources),
    ]
    target = "/authorize?" + "&".join(f"{k}={v}" for k, v in pairs)
    response = raw_get(fuzz_server.base, target, {"Cookie": f"pixie-session={fuzz_server.alice_cookie}"})
    assert response.status < 500, response
    check_headers(response)
    code = None
    if 300 <= response.status < 400:
        location = response.header("location") or ""
        if not location.startswith("/"):  # to the client, not to login or consent
            assert allowed_redirect(location, SPA_CB), location
            params = dict(parse_qsl(urlsplit(location).query))
            assert params.get("iss") == fuzz_server.pixie.issuer, location
            if "error" in params:
                assert params["error"] in REGISTERED_ERRORS, location
            code = params.get("code")
    else:
        assert response.status in (400, 404, 414, 431), response.status
    return response, Granted(code, pkce.verifier)


@settings(max_examples=examples(150), deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(at_authorize=granted_values(), at_token=resource_values())
def test_resource_at_authorize_and_token(fuzz_server: FuzzServer, at_authorize: list[str], at_token: list[str]) -> None:
    TALLY.examples["resource"] += 1
    at_token = _fitting(at_token)
    response, granted = _authorize(fuzz_server, at_authorize)
    named = _named(at_authorize)
    event("code" if granted.code else f"no code ({response.status})")
    if granted.code is None:
        location = response.header("location") or ""
        if "/consent" in location:  # a new resource: consent is asked (never a code without it)
            assert named and all(value in REGISTERED for value in named), named
        return
    # A code was issued: every value named a registered resource, exactly.
    assert all(value in REGISTERED for value in named), named
    pairs = [
        ("grant_type", "authorization_code"),
        ("code", granted.code),
        ("code_verifier", granted.verifier),
        ("client_id", "spa"),
        ("redirect_uri", encode(SPA_CB)),
        *(("resource", value) for value in at_token),
    ]
    body = _check_json(_post(fuzz_server, "/token", pairs))
    event("token" if "access_token" in body else f"token refused ({body.get('error')})")
    if "access_token" not in body:
        return
    requested = _named(at_token)
    audience = _audience(str(body["access_token"]))
    if named:
        expected = list(dict.fromkeys(requested or named))
        assert set(expected) <= set(named), (requested, named)  # narrowed, never widened
        assert audience == expected, (audience, expected)
    else:
        assert not requested, requested  # no resource granted: none may be asked for at the token endpoint
        assert not set(audience) & set(REGISTERED), audience


@settings(max_examples=examples(100), deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(resources=resource_values())
def test_resource_at_refresh_and_par(fuzz_server: FuzzServer, resources: list[str]) -> None:
    TALLY.examples["resource"] += 1
    resources = _fitting(resources)
    tokens = fuzz_server.mint_tokens()  # a grant without resources: a refresh may not gain one
    pairs = [("grant_type", "refresh_token"), ("client_id", "spa"), ("refresh_token", tokens["refresh_token"])]
    body = _check_json(_post(fuzz_server, "/token", [*pairs, *(("resource", value) for value in resources)]))
    named = _named(resources)
    if named:
        assert body.get("error") in ("invalid_target", "invalid_request"), body
    else:
        assert "access_token" in body, body
        assert not set(_audience(str(body["access_token"]))) & set(REGISTERED)

    push = [
        ("client_id", "spa"),
        ("redirect_uri", encode(SPA_CB)),
        ("response_type", "code"),
        ("code_challenge", Pkce.new().challenge),
        ("code_challenge_method", "S256"),
        *(("resource", value) for value in resources),
    ]
    pushed = _check_json(_post(fuzz_server, "/par", push))
    if "request_uri" in pushed:
        assert all(value in REGISTERED for value in named), named
    elif named:
        assert pushed.get("error") in ("invalid_target", "invalid_request"), pushed
