"""ARCHITECTURE §6.9 at the token endpoint: DPoP proofs bind access tokens (and public clients' refresh tokens) to
the client's key; a replayed, re-targeted or foreign proof is refused with ``invalid_dpop_proof`` and spends nothing.

Spec: RFC 9449 §4.3, §5, §6.1 (``cnf.jkt``), §6.2 (introspection), §11.1 (replay), §5.1 (metadata).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from livesupport import run_coroutine
from pixie.client.dpop import DPoPKey
from pixie.management import create_tenant, register_client
from pixie.server.protocol.sender_constraint import DPoPNonces
from pixie.storage.records import TenantSettings
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing
from spec.conftest import MASTER_KEY
from spec.support import (
    WEB_SECRET,
    Browser,
    Pixie,
    Pkce,
    assert_json_error,
    authorize_pairs,
    jwt_part,
    token_request,
)


def _proof(pixie: Pixie, key: DPoPKey, **kwargs: Any) -> str:
    return key.proof("POST", f"{pixie.base}/token", **kwargs)


def _code_tokens(alice: Browser, http: httpx.Client, pixie: Pixie, key: DPoPKey) -> dict[str, Any]:
    pkce = Pkce.new()
    code = alice.code(authorize_pairs(client_id="spa", challenge=pkce.challenge))
    response = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": pkce.verifier,
            "client_id": "spa",
            "redirect_uri": "http://127.0.0.1:9999/cb",
        },
        headers={"DPoP": _proof(pixie, key)},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _refresh(http: httpx.Client, refresh_token: str, proof: str | None) -> httpx.Response:
    headers = {"DPoP": proof} if proof is not None else {}
    return http.post(
        "/token",
        data={"grant_type": "refresh_token", "client_id": "spa", "refresh_token": refresh_token},
        headers=headers,
    )


def test_the_code_exchange_binds_the_access_token_to_the_key(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    key = DPoPKey.generate()
    tokens = _code_tokens(alice, http, pixie, key)
    assert tokens["token_type"] == "DPoP"
    assert jwt_part(tokens["access_token"], 1)["cnf"] == {"jkt": key.thumbprint}


def test_a_bound_refresh_token_needs_its_own_key_and_is_not_spent_by_another(
    alice: Browser, http: httpx.Client, pixie: Pixie
) -> None:
    key, thief = DPoPKey.generate(), DPoPKey.generate("EdDSA")
    tokens = _code_tokens(alice, http, pixie, key)
    refused = assert_json_error(_refresh(http, tokens["refresh_token"], _proof(pixie, thief)), "invalid_dpop_proof")
    assert "bound to" in refused["error_description"]
    assert_json_error(_refresh(http, tokens["refresh_token"], None), "invalid_dpop_proof")
    renewed = _refresh(http, tokens["refresh_token"], _proof(pixie, key))  # the refusals spent nothing
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["token_type"] == "DPoP"
    assert jwt_part(renewed.json()["access_token"], 1)["cnf"] == {"jkt": key.thumbprint}
    again = _refresh(http, renewed.json()["refresh_token"], _proof(pixie, key))
    assert again.status_code == 200, again.text


def test_without_a_proof_tokens_stay_bearer_tokens(alice: Browser, http: httpx.Client) -> None:
    pkce = Pkce.new()
    code = alice.code(authorize_pairs(client_id="spa", challenge=pkce.challenge))
    response = token_request(http, code, pkce.verifier)
    assert response.json()["token_type"] == "Bearer"
    assert "cnf" not in jwt_part(response.json()["access_token"], 1)
    upgraded = _refresh(http, response.json()["refresh_token"], None)
    assert upgraded.status_code == 200 and upgraded.json()["token_type"] == "Bearer"


def _client_credentials(
    http: httpx.Client, proof: str | None, *, extra: dict[str, str] | None = None
) -> httpx.Response:
    headers = {"DPoP": proof} if proof is not None else {}
    return http.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=("cc-only", WEB_SECRET),
        headers=headers,
    )


def test_a_replayed_proof_is_refused(http: httpx.Client, pixie: Pixie) -> None:
    proof = _proof(pixie, DPoPKey.generate())
    assert _client_credentials(http, proof).status_code == 200
    refused = assert_json_error(_client_credentials(http, proof), "invalid_dpop_proof")
    assert "already used" in refused["error_description"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda pixie, key: key.proof("GET", f"{pixie.base}/token"), "htm"),
        (lambda pixie, key: key.proof("POST", f"{pixie.base}/introspect"), "htu"),
        (lambda pixie, key: key.proof("POST", "https://elsewhere.example/token"), "htu"),
        (lambda pixie, key: "not.a.proof", "malformed"),
    ],
    ids=["wrong-method", "other-endpoint", "other-server", "garbage"],
)
def test_proofs_for_another_request_are_refused(http: httpx.Client, pixie: Pixie, make: Any, message: str) -> None:
    refused = assert_json_error(_client_credentials(http, make(pixie, DPoPKey.generate())), "invalid_dpop_proof")
    assert message in refused["error_description"]


def test_two_dpop_headers_are_refused(http: httpx.Client, pixie: Pixie) -> None:
    key = DPoPKey.generate()
    response = http.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=("cc-only", WEB_SECRET),
        headers=[("DPoP", _proof(pixie, key)), ("DPoP", _proof(pixie, key))],
    )
    assert "one DPoP header" in assert_json_error(response, "invalid_dpop_proof")["error_description"]


def test_introspection_reports_the_binding(http: httpx.Client, pixie: Pixie) -> None:
    key = DPoPKey.generate()
    issued = _client_credentials(http, _proof(pixie, key))
    assert issued.json()["token_type"] == "DPoP"
    answer = http.post("/introspect", data={"token": issued.json()["access_token"]}, auth=("cc-only", WEB_SECRET))
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is True
    assert answer.json()["token_type"] == "DPoP"
    assert answer.json()["cnf"] == {"jkt": key.thumbprint}


def test_metadata_advertises_the_proof_algorithms(http: httpx.Client) -> None:
    algorithms = http.get("/.well-known/oauth-authorization-server").json()["dpop_signing_alg_values_supported"]
    assert {"ES256", "EdDSA", "PS256", "RS256"} <= set(algorithms)
    assert not any(alg.startswith("HS") or alg == "none" for alg in algorithms)


@pytest.fixture(scope="module")
def nonce_tenant(pixie: Pixie) -> str:
    """A tenant that requires the server's nonce in DPoP proofs, with a client-credentials client."""

    async def seed() -> None:
        async with open_storage(f"sqlite:///{pixie.db_path}") as storage:
            keyring = KeyRing(storage.keys, MASTER_KEY)
            await create_tenant(storage, keyring, "nonces", settings=TenantSettings(dpop_nonce=True))
            await register_client(
                storage,
                "nonces",
                "cc",
                redirect_uris=[],
                public=False,
                secret=WEB_SECRET,
                scopes=["properties:read"],
                grant_types=["client_credentials"],
            )

    run_coroutine(seed())
    return f"{pixie.base}/t/nonces"


def test_a_tenant_may_require_the_servers_nonce(http: httpx.Client, nonce_tenant: str) -> None:
    key = DPoPKey.generate()

    def request(nonce: str | None) -> httpx.Response:
        proof = key.proof("POST", f"{nonce_tenant}/token", nonce=nonce)
        return http.post(
            f"{nonce_tenant}/token",
            data={"grant_type": "client_credentials"},
            auth=("cc", WEB_SECRET),
            headers={"DPoP": proof},
        )

    asked = request(None)
    assert assert_json_error(asked, "use_dpop_nonce")["error"] == "use_dpop_nonce"
    nonce = asked.headers["DPoP-Nonce"]
    assert_json_error(request("made-up-nonce"), "use_dpop_nonce")
    issued = request(nonce)
    assert issued.status_code == 200, issued.text
    assert issued.headers["DPoP-Nonce"] == nonce  # still current: the next proof may use it
    assert issued.json()["token_type"] == "DPoP"


def test_nonces_are_the_same_on_every_instance_and_roll_over() -> None:
    """Stateless nonces: two instances with one master key agree; a period later the old nonce is still accepted,
    two periods later it is not."""
    one, two = DPoPNonces(MASTER_KEY), DPoPNonces(MASTER_KEY)
    now = 1_800_000_000.0
    assert one.accepted("t", now) == two.accepted("t", now)
    assert one.accepted("t", now) != one.accepted("u", now)
    assert DPoPNonces(b"another-master-key-of-32-bytes!!").accepted("t", now) != one.accepted("t", now)
    current = one.accepted("t", now)[0]
    assert one.accepted("t", now + one.period)[1] == current
    assert current not in one.accepted("t", now + 2 * one.period)
