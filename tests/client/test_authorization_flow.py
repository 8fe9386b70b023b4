"""The authorization-code flow with PKCE against the real Pixie server: discovery, authorization URL, callback
checks, code exchange, refresh and client credentials (issue 5, items 1–4)."""

from __future__ import annotations

import dataclasses
import json
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from client.support import APP_CB, FULL_SCOPE, SVC_SECRET, callback_params, follow_to_callback
from pixie import pkce
from pixie.client import (
    AsyncOAuthClient,
    AuthorizationTransaction,
    OAuthClient,
    ProtocolViolation,
    ServerRefused,
    TokenSet,
)
from pixie.resource import jws
from spec.support import Browser, Pixie


def _with_query(url: str, **changes: str | None) -> str:
    """``url`` with query parameters replaced (a value) or removed (None)."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))
    for name, value in changes.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return parts._replace(query=urlencode(params)).geturl()


def _claims(pixie: Pixie, tokens: TokenSet) -> dict[str, object]:
    jwks = httpx.get(f"{pixie.base}/jwks.json").json()
    claims: dict[str, object] = dict(jws.verify_jwt(tokens.access_token, jwks).claims)
    return claims


def test_metadata_is_discovered_and_cached(pixie: Pixie) -> None:
    """RFC 8414 §3: one request, then the cache; the issuer is the configured one."""
    requests: list[str] = []
    with httpx.Client(event_hooks={"request": [lambda r: requests.append(str(r.url))]}) as http:
        client = OAuthClient(pixie.issuer, "cli", http=http)
        first, second = client.metadata(), client.metadata()
    assert first is second and first.issuer == pixie.issuer
    assert first.token_endpoint == f"{pixie.base}/token"
    assert first.authorization_response_iss_parameter_supported is True
    assert requests == [f"{pixie.base}/.well-known/oauth-authorization-server"]


def test_tenant_issuer_uses_the_path_inserted_well_known_url(pixie: Pixie) -> None:
    """RFC 8414 §3.1: for issuer ``{base}/t/other`` the metadata lives at ``{base}/.well-known/…/t/other``."""
    with OAuthClient(f"{pixie.base}/t/other", "cli") as client:
        metadata = client.metadata()
    assert metadata.issuer == f"{pixie.base}/t/other"
    assert metadata.token_endpoint == f"{pixie.base}/t/other/token"


def test_full_flow_through_login_and_consent_forms(pixie: Pixie) -> None:
    """RFC 6749 §4.1 with RFC 7636: a fresh browser posts the login form and the consent form; the callback
    carries ``state`` and ``iss``; the code is redeemed with the verifier; the token set has an absolute expiry."""
    with Browser(pixie) as browser, OAuthClient(pixie.issuer, "cli-consent") as client:
        start = client.start_authorization(APP_CB, FULL_SCOPE)
        query = dict(parse_qsl(urlsplit(start.url).query))
        assert query["code_challenge"] == pkce.create_challenge(start.transaction.code_verifier)
        assert query["code_challenge_method"] == "S256" and query["state"] == start.transaction.state
        callback = follow_to_callback(browser, start.url)
        assert callback_params(callback)["iss"] == pixie.issuer
        before = time.time()
        tokens = client.complete_authorization(start.transaction, callback)
    assert tokens.token_type == "Bearer" and tokens.refresh_token and tokens.scope == FULL_SCOPE
    assert tokens.expires_at is not None
    assert before + int(tokens.raw["expires_in"]) - 1 <= tokens.expires_at <= time.time() + tokens.raw["expires_in"]
    claims = _claims(pixie, tokens)
    assert claims["client_id"] == "cli-consent" and claims["sub"] == pixie.user_ids["alice"]
    assert "access_token" not in repr(tokens) and tokens.access_token not in repr(tokens)


def test_refresh_rotates_and_the_old_refresh_token_is_dead(pixie: Pixie, alice: Browser) -> None:
    """RFC 6749 §6, RFC 9700 §4.14.2: a public client's refresh token rotates; the old one is refused."""
    with OAuthClient(pixie.issuer, "cli") as client:
        start = client.start_authorization(APP_CB, FULL_SCOPE)
        tokens = client.complete_authorization(start.transaction, follow_to_callback(alice, start.url))
        refreshed = client.refresh(tokens)
        assert refreshed.refresh_token and refreshed.refresh_token != tokens.refresh_token
        assert refreshed.access_token != tokens.access_token and refreshed.scope == FULL_SCOPE
        with pytest.raises(ServerRefused) as refused:
            client.refresh(tokens)
    assert refused.value.error == "invalid_grant" and refused.value.status == 400
    assert refused.value.response is not None and json.loads(refused.value.response.body)["error"] == "invalid_grant"


def test_transaction_is_single_use(pixie: Pixie, alice: Browser) -> None:
    """RFC 9700 §2.1: the one-time CSRF protection cannot be replayed; the second completion never reaches the
    server."""
    with OAuthClient(pixie.issuer, "cli") as client:
        start = client.start_authorization(APP_CB, FULL_SCOPE)
        callback = follow_to_callback(alice, start.url)
        client.complete_authorization(start.transaction, callback)
        with pytest.raises(ProtocolViolation) as replay:
            client.complete_authorization(start.transaction, callback)
    assert replay.value.code == "transaction_used"


def test_transaction_survives_serialisation(pixie: Pixie, alice: Browser) -> None:
    """The transaction is plain JSON: a web app can keep it in its session between the two requests."""
    with OAuthClient(pixie.issuer, "cli") as client:
        start = client.start_authorization(APP_CB, "properties:read")
        stored = json.dumps(start.transaction.to_dict())
        callback = follow_to_callback(alice, start.url)
        restored = AuthorizationTransaction.from_dict(json.loads(stored))
        tokens = client.complete_authorization(restored, callback)
    assert tokens.scope == "properties:read"
    assert restored.consumed and restored.to_dict()["consumed"] is True


def test_state_mismatch_is_refused_and_does_not_spend_the_transaction(pixie: Pixie, alice: Browser) -> None:
    """RFC 6749 §10.12: a response with another state is not ours; the real one still completes afterwards."""
    with OAuthClient(pixie.issuer, "cli") as client:
        start = client.start_authorization(APP_CB, FULL_SCOPE)
        callback = follow_to_callback(alice, start.url)
        for forged in (_with_query(callback, state="x" * 22), _with_query(callback, state=None)):
            with pytest.raises(ProtocolViolation) as mismatch:
                client.complete_authorization(start.transaction, forged)
            assert mismatch.value.code == "state_mismatch"
        assert client.complete_authorization(start.transaction, callback).access_token


@pytest.mark.parametrize(("iss", "code"), [(None, "missing_iss"), ("http://127.0.0.1:1", "iss_mismatch")])
def test_iss_is_checked_against_the_issuer(pixie: Pixie, alice: Browser, iss: str | None, code: str) -> None:
    """RFC 9207 §2.4: Pixie advertises ``authorization_response_iss_parameter_supported``, so a response without
    ``iss`` (or with another issuer: a mix-up) is refused before the code is sent anywhere."""
    with OAuthClient(pixie.issuer, "cli") as client:
        start = client.start_authorization(APP_CB, FULL_SCOPE)
        callback = follow_to_callback(alice, start.url)
        with pytest.raises(ProtocolViolation) as refused:
            client.complete_authorization(start.transaction, _with_query(callback, iss=iss))
    assert refused.value.code == code


def test_expired_transaction_is_refused(pixie: Pixie, alice: Browser) -> None:
    """Transactions live 10 minutes."""
    with OAuthClient(pixie.issuer, "cli") as client:
        start = client.start_authorization(APP_CB, FULL_SCOPE)
        assert 599 <= start.transaction.expires_at - time.time() <= 600
        callback = follow_to_callback(alice, start.url)
        old = dataclasses.replace(start.transaction, expires_at=time.time() - 1)
        with pytest.raises(ProtocolViolation) as expired:
            client.complete_authorization(old, callback)
    assert expired.value.code == "transaction_expired"


def test_denied_consent_is_the_server_refused_error(pixie: Pixie, alice: Browser) -> None:
    """RFC 6749 §4.1.2.1: ``error=access_denied`` on the redirect becomes ServerRefused (no HTTP status)."""
    with OAuthClient(pixie.issuer, "cli") as client:
        start = client.start_authorization(APP_CB, FULL_SCOPE, extra_params=[("prompt", "consent")])
        callback = follow_to_callback(alice, start.url, approve=False)
        with pytest.raises(ServerRefused) as denied:
            client.complete_authorization(start.transaction, callback)
    assert denied.value.error == "access_denied" and denied.value.status is None


def test_code_redeemed_by_someone_else_first_fails(pixie: Pixie, alice: Browser) -> None:
    """RFC 6749 §4.1.2: codes are single use; the server's refusal surfaces with its error code."""
    with OAuthClient(pixie.issuer, "cli") as client:
        start = client.start_authorization(APP_CB, FULL_SCOPE)
        callback = follow_to_callback(alice, start.url)
        twin = AuthorizationTransaction.from_dict(start.transaction.to_dict())
        client.complete_authorization(start.transaction, callback)
        with pytest.raises(ServerRefused) as refused:
            client.complete_authorization(twin, callback)
    assert refused.value.error == "invalid_grant"


async def test_async_client_full_flow(pixie: Pixie, alice: Browser) -> None:
    """The same flow through AsyncOAuthClient (the logic is flows.py's; only the sending differs)."""
    async with AsyncOAuthClient(pixie.issuer, "cli") as client:
        start = await client.start_authorization(APP_CB, FULL_SCOPE)
        callback = follow_to_callback(alice, start.url)
        tokens = await client.complete_authorization(start.transaction, callback)
        refreshed = await client.refresh(tokens)
    assert refreshed.refresh_token != tokens.refresh_token
    assert _claims(pixie, refreshed)["client_id"] == "cli"


def test_client_credentials(pixie: Pixie) -> None:
    """RFC 6749 §4.4: a machine client's token; no refresh token; a wrong secret is ``invalid_client`` (401)."""
    with OAuthClient(pixie.issuer, "svc", SVC_SECRET) as client:
        tokens = client.client_credentials("properties:read")
    assert tokens.refresh_token is None and tokens.scope == "properties:read"
    assert _claims(pixie, tokens)["client_id"] == "svc"
    with OAuthClient(pixie.issuer, "svc", "wrong-secret") as client, pytest.raises(ServerRefused) as refused:
        client.client_credentials()
    assert (refused.value.error, refused.value.status) == ("invalid_client", 401)


def test_client_secret_post(pixie: Pixie) -> None:
    """RFC 6749 §2.3.1: the secret in the body works too when asked for."""
    with OAuthClient(pixie.issuer, "svc", SVC_SECRET, auth_method="client_secret_post") as client:
        assert client.client_credentials().access_token
