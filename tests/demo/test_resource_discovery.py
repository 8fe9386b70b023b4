"""The demo Property API as an RFC 9728 protected resource: a client that knows nothing but the API's URL follows
the 401's ``resource_metadata`` to the metadata, from there to the authorization server (RFC 8414), signs in with
``resource`` = the API's URL (RFC 8707), and calls the API with the token. Over real HTTP against the demo.

Spec: RFC 9728 §3, §5.1; RFC 8707 §2; RFC 8414 §3.
"""

from __future__ import annotations

import re

import httpx

from demo.support import PASSWORDS, Demo
from pixie.demo.config import CLIENT_ID, redirect_uri
from spec.support import Browser, Pkce, authorize_pairs, jwt_part, redirect_params, token_request


def test_a_client_finds_its_way_from_a_401_to_a_token_for_the_api(demo: Demo) -> None:
    refused = httpx.get(f"{demo.api}/properties")
    assert refused.status_code == 401
    challenge = dict(re.findall(r'(\w+)="([^"]*)"', refused.headers["www-authenticate"]))
    metadata_url = challenge["resource_metadata"]
    assert metadata_url == f"{demo.base}/.well-known/oauth-protected-resource/api"

    metadata = httpx.get(metadata_url).json()
    assert metadata["resource"] == demo.api and metadata["authorization_servers"] == [demo.base]
    assert "properties:read" in metadata["scopes_supported"]
    server = httpx.get(f"{metadata['authorization_servers'][0]}/.well-known/oauth-authorization-server").json()
    assert server["issuer"] == demo.base

    proof = Pkce.new()
    callback = redirect_uri(demo.base)
    pairs = authorize_pairs(
        client_id=CLIENT_ID,
        redirect_uri=callback,
        scope="properties:read",
        challenge=proof.challenge,
        extra=[("resource", metadata["resource"])],
    )
    with Browser(demo.pixie) as browser:
        response = browser.submit_login(browser.login_page(pairs), "bob", PASSWORDS["bob"])
        consent = browser.follow(response, "/consent")
        assert "Property API" in consent.text and demo.api in consent.text  # the consent names the API
        params = redirect_params(browser.submit_consent(consent), callback)
    with demo.pixie.client() as http:
        tokens = token_request(http, params["code"], proof.verifier, client_id=CLIENT_ID, redirect_uri=callback)
    assert tokens.status_code == 200, tokens.text
    access_token = tokens.json()["access_token"]
    assert jwt_part(access_token, 1)["aud"] == demo.api  # not the SPA's URN: the resource asked for
    listed = httpx.get(f"{demo.api}/properties", headers={"Authorization": f"Bearer {access_token}"})
    assert listed.status_code == 200, listed.text
