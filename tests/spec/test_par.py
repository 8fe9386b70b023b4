"""Pushed authorization requests (RFC 9126) and DPoP code binding (RFC 9449 §10) over real HTTP.

A client pushes its request (authenticated as at ``/token``), gets a one-time ``request_uri`` valid 60 s, and
``/authorize`` runs on the pushed parameters; bad pushes get JSON errors and store nothing. A tenant or client may
require pushes. ``dpop_jkt`` (or a proof sent with the push) binds the code to a key.

Spec: RFC 9126 §2.1–2.3, §4, §5–6; RFC 9449 §10, §10.1.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from livesupport import run_coroutine
from pixie.client.dpop import DPoPKey
from pixie.management import create_tenant, register_client
from pixie.storage.records import TenantSettings
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing
from spec.conftest import MASTER_KEY
from spec.support import (
    SCOPES,
    SPA_CB,
    WEB_SECRET,
    Browser,
    Pixie,
    Pkce,
    assert_error_page,
    assert_json_error,
    authorize_pairs,
    redirect_params,
    sha256_hex,
    token_request,
)

URN = "urn:ietf:params:oauth:request_uri:"


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def push(http: httpx.Client, pairs: list[tuple[str, str]], url: str = "/par", **kwargs: Any) -> httpx.Response:
    headers = {**FORM, **kwargs.pop("headers", {})}
    return http.post(url, content=urlencode(pairs), headers=headers, **kwargs)


def test_a_pushed_request_signs_in_through_its_request_uri(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    proof = Pkce.new()
    pushed = push(http, authorize_pairs(client_id="spa", challenge=proof.challenge, state="pushed-state"))
    assert pushed.status_code == 201, pushed.text
    assert pushed.headers["cache-control"] == "no-store"
    body = pushed.json()
    assert body["expires_in"] == 60 and body["request_uri"].startswith(URN)
    assert len(body["request_uri"]) > len(URN) + 40
    # Only the digest is stored.
    assert body["request_uri"].encode() not in pixie.db_bytes()
    assert pixie.query("SELECT count(*) FROM pushed_requests WHERE uri_hash = ?", [sha256_hex(body["request_uri"])])
    # Other query parameters are ignored: only client_id and request_uri count.
    response = alice.authorize([("client_id", "spa"), ("request_uri", body["request_uri"]), ("state", "ignored")])
    params = redirect_params(response, SPA_CB)
    assert params["state"] == "pushed-state"
    tokens = token_request(http, params["code"], proof.verifier)
    assert tokens.status_code == 200, tokens.text
    # One use only.
    again = alice.authorize([("client_id", "spa"), ("request_uri", body["request_uri"])])
    assert_error_page(again)


def test_a_request_uri_works_only_for_the_client_that_pushed_it(alice: Browser, http: httpx.Client) -> None:
    body = push(http, authorize_pairs(client_id="spa")).json()
    assert_error_page(alice.authorize([("client_id", "spa-b"), ("request_uri", body["request_uri"])]))
    assert_error_page(alice.authorize([("request_uri", body["request_uri"])]))
    assert_error_page(alice.authorize([("client_id", "spa"), ("request_uri", URN + "made-up")]))


def test_an_expired_request_uri_is_refused(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    body = push(http, authorize_pairs(client_id="spa")).json()
    pixie.execute("UPDATE pushed_requests SET expires_at = 0 WHERE uri_hash = ?", [sha256_hex(body["request_uri"])])
    assert_error_page(alice.authorize([("client_id", "spa"), ("request_uri", body["request_uri"])]))


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"redirect_uri": "https://evil.example/cb"}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"scope": "admin:everything"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"request_uri": URN + "x"}, "invalid_request"),
        ({"dpop_jkt": "not-a-thumbprint"}, "invalid_request"),
    ],
)
def test_bad_pushes_get_json_errors_and_store_nothing(
    http: httpx.Client, pixie: Pixie, change: dict[str, str], error: str
) -> None:
    before = pixie.query("SELECT count(*) FROM pushed_requests")
    pairs = [(k, v) for k, v in authorize_pairs(client_id="spa") if k not in change] + list(change.items())
    assert_json_error(push(http, pairs), error)
    assert pixie.query("SELECT count(*) FROM pushed_requests") == before


def test_pushes_authenticate_the_client(http: httpx.Client) -> None:
    pairs = [(k, v) for k, v in authorize_pairs(client_id="web", redirect_uri="https://app.example/cb")]
    assert_json_error(push(http, pairs), "invalid_client", status=401)
    assert_json_error(push(http, pairs, auth=("web", "wrong-secret")), "invalid_client", status=401)
    assert push(http, pairs, auth=("web", WEB_SECRET)).status_code == 201
    other = [(k, v) for k, v in pairs if k != "client_id"] + [("client_id", "spa")]
    assert_json_error(push(http, other, auth=("web", WEB_SECRET)), "invalid_request")


def test_metadata_names_the_endpoint(http: httpx.Client, pixie: Pixie) -> None:
    document = http.get("/.well-known/oauth-authorization-server").json()
    assert document["pushed_authorization_request_endpoint"] == f"{pixie.base}/par"
    assert document["require_pushed_authorization_requests"] is False


@pytest.fixture(scope="module")
def par_tenant(pixie: Pixie) -> str:
    """Tenant ``pushed`` requires pushes for every client; in the default tenant, client ``par-only`` does."""

    async def seed() -> None:
        async with open_storage(f"sqlite:///{pixie.db_path}") as storage:
            keyring = KeyRing(storage.keys, MASTER_KEY)
            settings = TenantSettings(require_pushed_authorization_requests=True)
            await create_tenant(storage, keyring, "pushed", settings=settings)
            for tenant, client_id, required in (("pushed", "spa", False), ("default", "par-only", True)):
                await register_client(
                    storage,
                    tenant,
                    client_id,
                    redirect_uris=[SPA_CB],
                    public=True,
                    scopes=SCOPES,
                    require_pushed_authorization_requests=required,
                )

    run_coroutine(seed())
    return f"{pixie.base}/t/pushed"


def test_a_tenant_or_client_may_require_pushes(pixie: Pixie, par_tenant: str) -> None:
    with httpx.Client(timeout=20) as http:
        assert http.get(f"{par_tenant}/.well-known/oauth-authorization-server").json()[
            "require_pushed_authorization_requests"
        ]
        for base, client_id in ((par_tenant, "spa"), (pixie.base, "par-only")):
            refused = http.get(f"{base}/authorize", params=authorize_pairs(client_id=client_id, state="s1"))
            params = redirect_params(refused, SPA_CB)
            assert params["error"] == "invalid_request" and "pushed" in params["error_description"]
            assert params["state"] == "s1"
            pushed = push(http, authorize_pairs(client_id=client_id), f"{base}/par").json()
            started = http.get(
                f"{base}/authorize", params={"client_id": client_id, "request_uri": pushed["request_uri"]}
            )
            assert started.status_code == 303 and "/login" in started.headers["location"]


def _code_for(alice: Browser, http: httpx.Client, pixie: Pixie, proof: Pkce, **push_kwargs: Any) -> str:
    pairs = authorize_pairs(client_id="spa", challenge=proof.challenge) + push_kwargs.pop("extra", [])
    pushed = push(http, pairs, **push_kwargs)
    assert pushed.status_code == 201, pushed.text
    return alice.code([("client_id", "spa"), ("request_uri", pushed.json()["request_uri"])])


def _redeem(http: httpx.Client, pixie: Pixie, code: str, proof: Pkce, key: DPoPKey | None) -> httpx.Response:
    headers = {"DPoP": key.proof("POST", f"{pixie.base}/token")} if key else {}
    return http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": proof.verifier,
            "client_id": "spa",
            "redirect_uri": SPA_CB,
        },
        headers=headers,
    )


@pytest.mark.parametrize("how", ["dpop_jkt", "proof-at-par"])
def test_a_code_bound_to_a_key_is_redeemed_only_with_that_key(
    alice: Browser, http: httpx.Client, pixie: Pixie, how: str
) -> None:
    key = DPoPKey.generate()
    for presented, error in ((None, "send a DPoP proof"), (DPoPKey.generate(), "not the one")):
        proof = Pkce.new()
        if how == "dpop_jkt":
            code = _code_for(alice, http, pixie, proof, extra=[("dpop_jkt", key.thumbprint)])
        else:
            code = _code_for(alice, http, pixie, proof, headers={"DPoP": key.proof("POST", f"{pixie.base}/par")})
        refused = assert_json_error(_redeem(http, pixie, code, proof, presented), "invalid_dpop_proof")
        assert error in refused["error_description"]
    proof = Pkce.new()
    code = _code_for(alice, http, pixie, proof, extra=[("dpop_jkt", key.thumbprint)])
    issued = _redeem(http, pixie, code, proof, key)
    assert issued.status_code == 200 and issued.json()["token_type"] == "DPoP"


def test_dpop_jkt_on_the_front_channel_binds_too(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    key, proof = DPoPKey.generate(), Pkce.new()
    code = alice.code([*authorize_pairs(client_id="spa", challenge=proof.challenge), ("dpop_jkt", key.thumbprint)])
    assert_json_error(_redeem(http, pixie, code, proof, DPoPKey.generate()), "invalid_dpop_proof")
    proof = Pkce.new()
    code = alice.code([*authorize_pairs(client_id="spa", challenge=proof.challenge), ("dpop_jkt", key.thumbprint)])
    assert _redeem(http, pixie, code, proof, key).status_code == 200
