"""RFC 8707 resource indicators at ``/authorize``, ``/par`` and ``/token``, over real HTTP on the spec server.

Three resources are registered in the default tenant (``pixie.protected_resources``, as ``pixie resources create``
does): ORDERS accepts ``properties:read`` and gives its tokens 120 s; BILLING accepts ``tenants:read``; OPEN lists
no scope (it accepts any). Each test pins the clause in its docstring.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from livesupport import run_coroutine
from pixie.client.dpop import DPoPKey
from pixie.protected_resources import create_resource
from pixie.storage.schema import open_storage
from spec.support import (
    PASSWORDS,
    SPA_CB,
    WEB_SECRET,
    Browser,
    Pixie,
    Pkce,
    assert_error_page,
    assert_json_error,
    authorize_pairs,
    jwt_part,
    redirect_params,
    token_request,
)

ORDERS = "https://orders.example/api"
BILLING = "https://billing.example/"
OPEN = "urn:example:open"
UNREGISTERED = "https://unregistered.example/"


@pytest.fixture(scope="module", autouse=True)
def registered(pixie: Pixie) -> None:
    async def add() -> None:
        async with open_storage(f"sqlite:///{pixie.db_path}") as storage:
            for identifier, name, scopes, ttl in (
                (ORDERS, "Orders API", ("properties:read",), 120),
                (BILLING, "Billing API", ("tenants:read",), None),
                (OPEN, "", (), None),
            ):
                if await storage.resources.get("default", identifier) is None:
                    await create_resource(
                        storage, "default", identifier, name=name, scopes=scopes, access_token_ttl=ttl
                    )

    run_coroutine(add())


def _resources(*identifiers: str) -> list[tuple[str, str]]:
    return [("resource", identifier) for identifier in identifiers]


def _code(browser: Browser, pairs: list[tuple[str, str]], *, consent: bool = True) -> str:
    """The code for ``pairs`` from a signed-in browser, approving the consent page when it is shown."""
    response = browser.authorize(pairs)
    if consent and "/consent" in response.headers.get("location", ""):
        response = browser.submit_consent(browser.follow(response, "/consent"))
    params = redirect_params(response, SPA_CB)
    assert "code" in params, params
    return params["code"]


def _tokens(
    alice: Browser,
    http: httpx.Client,
    resources: tuple[str, ...],
    *,
    scope: str = "properties:read tenants:read",
    token_resources: tuple[str, ...] = (),
) -> dict[str, Any]:
    pkce = Pkce.new()
    code = _code(alice, authorize_pairs(challenge=pkce.challenge, scope=scope, extra=_resources(*resources)))
    data = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", pkce.verifier),
        ("client_id", "spa"),
        ("redirect_uri", SPA_CB),
        *_resources(*token_resources),
    ]
    response = _post(http, data)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _post(http: httpx.Client, data: list[tuple[str, str]], url: str = "/token", **kwargs: Any) -> httpx.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded", **kwargs.pop("headers", {})}
    return http.post(url, content=urlencode(data), headers=headers, **kwargs)


def _refresh(http: httpx.Client, refresh_token: str, *resources: str, **extra: str) -> httpx.Response:
    data = [("grant_type", "refresh_token"), ("client_id", "spa"), ("refresh_token", refresh_token)]
    return _post(http, [*data, *extra.items(), *_resources(*resources)])


def test_the_token_is_for_the_resource_with_its_scopes_and_lifetime(alice: Browser, http: httpx.Client) -> None:
    """RFC 8707 §2: ``aud`` is the requested resource; scopes are cut to what it accepts; its own lifetime."""
    tokens = _tokens(alice, http, (ORDERS,))
    claims = jwt_part(tokens["access_token"], 1)
    assert claims["aud"] == ORDERS
    assert claims["scope"] == "properties:read" == tokens["scope"]
    assert claims["exp"] - claims["iat"] == 120 == tokens["expires_in"]


def test_several_resources_are_one_audience_list(alice: Browser, http: httpx.Client) -> None:
    """RFC 8707 §2: ``resource`` may be repeated; the token names each, and carries the scopes any accepts."""
    tokens = _tokens(alice, http, (ORDERS, BILLING))
    claims = jwt_part(tokens["access_token"], 1)
    assert claims["aud"] == [ORDERS, BILLING]
    assert claims["scope"] == "properties:read tenants:read"


def test_the_token_request_narrows_to_one_of_the_granted_resources(alice: Browser, http: httpx.Client) -> None:
    """RFC 8707 §2.2: the token request names a subset of what the code was granted; the scopes follow it."""
    tokens = _tokens(alice, http, (ORDERS, BILLING), token_resources=(BILLING,))
    claims = jwt_part(tokens["access_token"], 1)
    assert claims["aud"] == BILLING and claims["scope"] == "tenants:read"


def test_the_code_is_bound_to_its_resources(alice: Browser, http: httpx.Client) -> None:
    """RFC 8707 §2.2: a token request naming a resource the code was not granted for is ``invalid_target``, a
    registered one included; so is naming any resource for a code granted without one."""
    pkce = Pkce.new()
    code = _code(alice, authorize_pairs(challenge=pkce.challenge, extra=_resources(ORDERS)))
    base = [("grant_type", "authorization_code"), ("code", code), ("code_verifier", pkce.verifier)]
    refused = _post(http, [*base, ("client_id", "spa"), ("redirect_uri", SPA_CB), *_resources(BILLING)])
    assert_json_error(refused, "invalid_target")

    pkce = Pkce.new()
    plain = alice.code(authorize_pairs(challenge=pkce.challenge))
    response = token_request(http, plain, pkce.verifier, resource=ORDERS)
    assert_json_error(response, "invalid_target")


def test_without_resource_nothing_changes(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    """RFC 8707 is opt-in: no ``resource``, the token's ``aud`` is the client's audiences, else the tenant's
    default (the issuer here), and the tenant's lifetime."""
    tokens = _tokens(alice, http, ())
    claims = jwt_part(tokens["access_token"], 1)
    assert claims["aud"] == pixie.issuer and claims["scope"] == "properties:read tenants:read"
    assert claims["exp"] - claims["iat"] == 300


def test_a_refresh_may_narrow_never_widen(alice: Browser, http: httpx.Client) -> None:
    """RFC 8707 §2.2: a refresh names a subset of the granted resources; another one (even registered) is
    ``invalid_target`` and spends nothing; without ``resource`` the grant's resources come back whole."""
    tokens = _tokens(alice, http, (ORDERS, BILLING))
    narrowed = _refresh(http, tokens["refresh_token"], ORDERS)
    assert narrowed.status_code == 200, narrowed.text
    claims = jwt_part(narrowed.json()["access_token"], 1)
    assert claims["aud"] == ORDERS and claims["scope"] == "properties:read"
    refresh_token = narrowed.json()["refresh_token"]

    assert_json_error(_refresh(http, refresh_token, OPEN), "invalid_target")
    assert_json_error(_refresh(http, refresh_token, UNREGISTERED), "invalid_target")
    assert_json_error(_refresh(http, refresh_token, "https://orders.example/api#frag"), "invalid_target")
    whole = _refresh(http, refresh_token)  # the refused attempts did not rotate or revoke it
    assert whole.status_code == 200, whole.text
    assert jwt_part(whole.json()["access_token"], 1)["aud"] == [ORDERS, BILLING]


def test_a_refresh_of_a_grant_without_resources_cannot_gain_one(alice: Browser, http: httpx.Client) -> None:
    """RFC 8707 §2.2, RFC 6749 §6: a refresh never widens the grant, here to a resource it never had."""
    tokens = _tokens(alice, http, ())
    assert_json_error(_refresh(http, tokens["refresh_token"], ORDERS), "invalid_target")


@pytest.mark.parametrize(
    ("resource", "needle"),
    [
        (UNREGISTERED, "unknown resource"),
        ("https://orders.example/api#part", "fragment"),
        ("/relative/api", "absolute URI"),
        ("https://orders.example/api ", "absolute URI"),
    ],
)
def test_an_unknown_or_malformed_resource_is_invalid_target_at_the_redirect_uri(
    alice: Browser, resource: str, needle: str
) -> None:
    """RFC 8707 §2: ``invalid_target``, sent to the (trusted) redirect URI with ``state`` and ``iss``."""
    response = alice.authorize(authorize_pairs(extra=_resources(ORDERS, resource)))
    params = redirect_params(response, SPA_CB)
    assert params["error"] == "invalid_target" and params["state"] == "st-123" and "iss" in params
    assert needle in params["error_description"]


def test_before_the_redirect_uri_is_trusted_a_bad_resource_is_never_redirected(alice: Browser) -> None:
    """RFC 6749 §4.1.2.1: an unknown redirect URI wins over a bad resource: our page, no redirect."""
    response = alice.authorize(authorize_pairs(redirect_uri="https://evil.example/cb", extra=_resources("x")))
    assert_error_page(response)


def test_scopes_no_resource_accepts_are_invalid_scope(alice: Browser) -> None:
    """RFC 8707 §2, RFC 6749 §3.3: asked for scopes only another API accepts, the request is ``invalid_scope``."""
    response = alice.authorize(authorize_pairs(scope="tenants:read", extra=_resources(ORDERS)))
    assert redirect_params(response, SPA_CB)["error"] == "invalid_scope"


def test_too_many_resources_are_refused(alice: Browser) -> None:
    response = alice.authorize(authorize_pairs(extra=_resources(*(f"https://r{i}.example/" for i in range(11)))))
    assert redirect_params(response, SPA_CB)["error"] == "invalid_target"


def test_consent_names_the_resource_and_covers_it(pixie: Pixie) -> None:
    """RFC 8707 §2: the user sees which API the client asks for; a consent remembered for one resource does not
    cover another, and one remembered for it covers it next time."""
    with Browser(pixie) as browser:
        page = browser.login_page(authorize_pairs(client_id="superset-app", extra=_resources(ORDERS)))
        response = browser.submit_login(page, "dave", PASSWORDS["dave"])
        consent = browser.follow(response, "/consent")
        assert "Orders API" in consent.text and ORDERS in consent.text
        redirect_params(browser.submit_consent(consent), SPA_CB)
        again = browser.authorize(authorize_pairs(client_id="superset-app", extra=_resources(ORDERS)))
        assert "code" in redirect_params(again, SPA_CB)
        other = browser.authorize(authorize_pairs(client_id="superset-app", extra=_resources(OPEN)))
        assert "/consent" in other.headers["location"]
        assert OPEN in browser.follow(other, "/consent").text


def test_a_pushed_request_carries_its_resources(alice: Browser, http: httpx.Client) -> None:
    """RFC 9126 §2.1 with RFC 8707: ``/par`` takes ``resource`` repeatedly and checks it as ``/authorize``
    does; the code from the pushed request is for those resources."""
    refused = _post(http, [*authorize_pairs(), *_resources(UNREGISTERED)], "/par")
    assert_json_error(refused, "invalid_target")
    pkce = Pkce.new()
    pushed = _post(
        http,
        [
            *authorize_pairs(challenge=pkce.challenge, scope="properties:read tenants:read"),
            *_resources(ORDERS, BILLING),
        ],
        "/par",
    )
    assert pushed.status_code == 201, pushed.text
    code = _code(alice, [("client_id", "spa"), ("request_uri", pushed.json()["request_uri"])])
    tokens = token_request(http, code, pkce.verifier)
    assert tokens.status_code == 200, tokens.text
    assert jwt_part(tokens.json()["access_token"], 1)["aud"] == [ORDERS, BILLING]


def test_a_dpop_bound_token_for_a_resource(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    """RFC 9449 with RFC 8707: the token is bound to the key and meant for the resource."""
    key = DPoPKey.generate()
    pkce = Pkce.new()
    code = _code(alice, authorize_pairs(challenge=pkce.challenge, extra=_resources(ORDERS)))
    data = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", pkce.verifier),
        ("client_id", "spa"),
        ("redirect_uri", SPA_CB),
        *_resources(ORDERS),
    ]
    response = _post(http, data, headers={"DPoP": key.proof("POST", f"{pixie.base}/token")})
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    claims = jwt_part(response.json()["access_token"], 1)
    assert claims["aud"] == ORDERS and claims["cnf"] == {"jkt": key.thumbprint}


def test_client_credentials_for_a_resource(http: httpx.Client) -> None:
    """RFC 8707 §2 with RFC 6749 §4.4: a client's own token for a resource; an unknown one is refused."""
    auth = ("cc-only", WEB_SECRET)
    data = [("grant_type", "client_credentials"), *_resources(BILLING)]
    response = _post(http, data, auth=auth)
    assert response.status_code == 200, response.text
    claims = jwt_part(response.json()["access_token"], 1)
    assert claims["aud"] == BILLING and claims["scope"] == "tenants:read"
    refused = _post(http, [("grant_type", "client_credentials"), *_resources(UNREGISTERED)], auth=auth)
    assert_json_error(refused, "invalid_target")


def test_a_deleted_resource_leaves_the_grant(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    """RFC 8707 §2.2: once a resource is deleted, a refresh gets a token for the grant's other resources, naming
    it is ``invalid_target``, and a grant left with none is ``invalid_target``."""
    gone = "https://gone.example/"

    async def change(add: bool) -> None:
        async with open_storage(f"sqlite:///{pixie.db_path}") as storage:
            if add:
                await create_resource(storage, "default", gone, name="Gone", scopes=("tenants:read",))
            else:
                await storage.resources.delete("default", gone)

    run_coroutine(change(add=True))
    both = _tokens(alice, http, (ORDERS, gone))
    only_gone = _tokens(alice, http, (gone,))
    run_coroutine(change(add=False))
    refreshed = _refresh(http, both["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert jwt_part(refreshed.json()["access_token"], 1)["aud"] == ORDERS
    assert_json_error(_refresh(http, refreshed.json()["refresh_token"], gone), "invalid_target")
    assert_json_error(_refresh(http, only_gone["refresh_token"]), "invalid_target")
