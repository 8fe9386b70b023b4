"""ARCHITECTURE §6.3: authorization codes are single use, live at most 60 s, are bound to client, redirect URI and
challenge; a second redemption fails and revokes every token issued from the code (issue 3 items 4 and 5).

Spec: RFC 6749 §4.1.2, §4.1.3, §10.5; RFC 9700 §2.1.1, §4.2.4, §4.5; OAuth 2.1 §4.1.3.
"""

from __future__ import annotations

import dataclasses
import time

import httpx
import pytest

from pixie.tokens.codes import CodeSealer
from spec.conftest import MASTER_KEY
from spec.support import (
    NATIVE_CB,
    SPA_CB,
    WEB_SECRET,
    Browser,
    Pixie,
    Pkce,
    assert_json_error,
    authorize_pairs,
    jwt_part,
    sha256_hex,
    token_request,
)


def _code(alice: Browser, proof: Pkce, scope: str = "properties:read") -> str:
    return alice.code(authorize_pairs(challenge=proof.challenge, scope=scope))


def test_second_redemption_fails_and_revokes(pixie: Pixie, alice: Browser, http: httpx.Client) -> None:
    """RFC 6749 §4.1.2 / RFC 9700 §4.2.4: a code is single use; on a second use the server MUST deny the request
    and SHOULD revoke all tokens issued from it: the refresh family is revoked and the access token's ``jti`` is
    deny-listed."""
    proof = Pkce.new()
    code = _code(alice, proof)
    first = token_request(http, code, proof.verifier)
    assert first.status_code == 200, first.text
    tokens = first.json()
    jti = jwt_part(tokens["access_token"], 1)["jti"]
    [family] = pixie.query(
        "SELECT family_id FROM refresh_tokens WHERE token_hash = ?", (sha256_hex(tokens["refresh_token"]),)
    )
    assert pixie.query("SELECT revoked_at FROM refresh_families WHERE family_id = ?", family) == [(None,)]
    assert pixie.query("SELECT jti FROM revoked_access_tokens WHERE jti = ?", (jti,)) == []

    second = token_request(http, code, proof.verifier)
    assert_json_error(second, "invalid_grant")
    [(revoked_at,)] = pixie.query("SELECT revoked_at FROM refresh_families WHERE family_id = ?", family)
    assert revoked_at is not None
    assert pixie.query("SELECT jti FROM revoked_access_tokens WHERE jti = ?", (jti,)) == [(jti,)]


def test_replay_by_another_client_also_revokes(pixie: Pixie, alice: Browser, http: httpx.Client) -> None:
    """RFC 9700 §4.2.4: whoever replays the code (here: another client), the tokens from the first redemption are
    revoked."""
    proof = Pkce.new()
    code = _code(alice, proof)
    first = token_request(http, code, proof.verifier)
    jti = jwt_part(first.json()["access_token"], 1)["jti"]
    assert_json_error(token_request(http, code, proof.verifier, client_id="spa-b"), "invalid_grant")
    assert pixie.query("SELECT jti FROM revoked_access_tokens WHERE jti = ?", (jti,)) == [(jti,)]


def test_code_issued_to_a_redeemed_by_b(alice: Browser, http: httpx.Client) -> None:
    """RFC 6749 §4.1.3: the server MUST ensure the code was issued to the authenticated client → ``invalid_grant``
    for public client B (same redirect URI, right verifier) and for confidential client ``web``."""
    proof = Pkce.new()
    code = _code(alice, proof)
    assert_json_error(token_request(http, code, proof.verifier, client_id="spa-b"), "invalid_grant")
    proof2 = Pkce.new()
    code2 = _code(alice, proof2)
    response = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code2,
            "code_verifier": proof2.verifier,
            "redirect_uri": SPA_CB,
        },
        auth=("web", WEB_SECRET),
    )
    assert_json_error(response, "invalid_grant")


REDIRECT_URI_AT_TOKEN = [
    pytest.param(SPA_CB, "http://127.0.0.1:9999/other", id="different[RFC6749-4.1.3]"),
    pytest.param(SPA_CB, None, id="missing-though-sent[RFC6749-4.1.3]"),
    pytest.param(SPA_CB, SPA_CB + "/", id="trailing-slash[RFC6749-4.1.3]"),
    pytest.param(None, "http://127.0.0.1:4444/cb", id="not-sent-but-different[RFC6749-4.1.3]"),
]


@pytest.mark.parametrize(("at_authorize", "at_token"), REDIRECT_URI_AT_TOKEN)
def test_redirect_uri_binding(
    alice: Browser, http: httpx.Client, at_authorize: str | None, at_token: str | None
) -> None:
    """RFC 6749 §4.1.3: if redirect_uri was in the authorization request it is REQUIRED at the token endpoint and
    the values MUST be identical (for loopback the port too: the code is bound to the URI actually used)."""
    proof = Pkce.new()
    if at_authorize is None:
        code = alice.code(authorize_pairs(challenge=proof.challenge, drop=["redirect_uri"]), SPA_CB)
    else:
        code = alice.code(authorize_pairs(challenge=proof.challenge, redirect_uri=at_authorize), at_authorize)
    assert_json_error(token_request(http, code, proof.verifier, redirect_uri=at_token), "invalid_grant")


@pytest.mark.parametrize(
    ("at_authorize", "at_token"),
    [
        pytest.param(SPA_CB, SPA_CB, id="identical"),
        pytest.param(None, None, id="omitted-both"),
        pytest.param(None, SPA_CB, id="omitted-then-registered"),
    ],
)
def test_redirect_uri_binding_controls(
    alice: Browser, http: httpx.Client, at_authorize: str | None, at_token: str | None
) -> None:
    """RFC 6749 §4.1.3: the accepted combinations (controls for the refusals above)."""
    proof = Pkce.new()
    if at_authorize is None:
        code = alice.code(authorize_pairs(challenge=proof.challenge, drop=["redirect_uri"]), SPA_CB)
    else:
        code = alice.code(authorize_pairs(challenge=proof.challenge, redirect_uri=at_authorize), at_authorize)
    response = token_request(http, code, proof.verifier, redirect_uri=at_token)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("at_token", "accepted"),
    [
        pytest.param("http://127.0.0.1:4444/cb", True, id="identical-loopback-port"),
        pytest.param(NATIVE_CB, False, id="loopback-as-registered[RFC8252-7.3]"),
        pytest.param("http://127.0.0.1:5555/cb", False, id="loopback-other-port[RFC8252-7.3]"),
    ],
)
def test_loopback_redirect_uri_binding(alice: Browser, http: httpx.Client, at_token: str, accepted: bool) -> None:
    """RFC 6749 §4.1.3 with RFC 8252 §7.3: a code requested for any port of a loopback URI registered without one
    (client ``native``) is bound to the URI actually used, port included."""
    proof = Pkce.new()
    used = "http://127.0.0.1:4444/cb"
    code = alice.code(authorize_pairs(client_id="native", challenge=proof.challenge, redirect_uri=used), used)
    response = token_request(http, code, proof.verifier, client_id="native", redirect_uri=at_token)
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert_json_error(response, "invalid_grant")


def test_unknown_code(http: httpx.Client) -> None:
    """RFC 6749 §5.2: a code that was never issued is ``invalid_grant``."""
    assert_json_error(token_request(http, "never-issued-" + "x" * 40, Pkce.new().verifier), "invalid_grant")


def test_missing_code(http: httpx.Client) -> None:
    """RFC 6749 §4.1.3 / §5.2: ``code`` is REQUIRED → ``invalid_request``."""
    data = {"grant_type": "authorization_code", "client_id": "spa", "code_verifier": Pkce.new().verifier}
    assert_json_error(http.post("/token", data=data), "invalid_request")


def test_lifetime_at_most_60_seconds(alice: Browser) -> None:
    """ARCHITECTURE §6.3 / RFC 6749 §4.1.2 (10 minutes maximum, short recommended) / OAuth 2.1: ≤ 60 s, as the
    code itself says (opened with the server's key: a code is sealed, not stored, until it is redeemed)."""
    code = _code(alice, Pkce.new())
    record = CodeSealer(MASTER_KEY).open(code, "default")
    assert record is not None
    assert 0 < record.expires_at - record.created_at <= 60
    assert abs(record.created_at - time.time()) < 30


def test_expired_code_is_refused(alice: Browser, http: httpx.Client) -> None:
    """RFC 6749 §4.1.2 / §5.2: an expired code is ``invalid_grant``: the server's own code, sealed again with its
    expiry in the past (what a code is once its 60 s are over), is refused; the same grant sealed as it was
    issued is accepted (the control)."""
    proof = Pkce.new()
    sealer = CodeSealer(MASTER_KEY)
    record = sealer.open(_code(alice, proof), "default")
    assert record is not None
    expired = sealer.seal(dataclasses.replace(record, expires_at=time.time() - 1))
    assert_json_error(token_request(http, expired, proof.verifier), "invalid_grant")
    assert token_request(http, sealer.seal(record), proof.verifier).status_code == 200


def test_a_code_cannot_be_altered_or_moved(alice: Browser, http: httpx.Client) -> None:
    """A code is authenticated as well as encrypted, for its tenant: one altered character, one of another
    tenant's, or a second spelling of the same bytes is ``invalid_grant``; the code as issued then works."""
    proof = Pkce.new()
    code = _code(alice, proof)
    sealer = CodeSealer(MASTER_KEY)
    record = sealer.open(code, "default")
    assert record is not None
    middle = len(code) // 2
    altered = code[:middle] + ("A" if code[middle] != "A" else "B") + code[middle + 1 :]
    other_tenant = sealer.seal(dataclasses.replace(record, tenant_id="other"))
    respelled = code + "=" if len(code) % 4 else code[:-1] + chr(ord(code[-1]) ^ 1)
    for forged in (altered, other_tenant, respelled, code.replace("pc1_", "pc2_")):
        assert_json_error(token_request(http, forged, proof.verifier), "invalid_grant")
    assert token_request(http, code, proof.verifier).status_code == 200


def test_code_stored_only_hashed(pixie: Pixie, alice: Browser, http: httpx.Client) -> None:
    """ARCHITECTURE §6.6 / RFC 9700 §4.2.4 spirit: the plaintext code never reaches the database — nothing of it
    before redemption, its SHA-256 after (the positive control proves we read the right bytes)."""
    proof = Pkce.new()
    code = _code(alice, proof)
    data = pixie.db_bytes()
    assert sha256_hex(code).encode() not in data and code.encode() not in data
    assert token_request(http, code, proof.verifier).status_code == 200
    data = pixie.db_bytes()
    assert sha256_hex(code).encode() in data
    assert code.encode() not in data


def test_code_bound_to_scope_and_user(pixie: Pixie, alice: Browser, http: httpx.Client) -> None:
    """Issue 3 item 4: the code carries the scope of *its* request and its user: the token shows exactly them."""
    proof = Pkce.new()
    code = _code(alice, proof, scope="tenants:read")
    body = token_request(http, code, proof.verifier).json()
    assert body["scope"] == "tenants:read"
    claims = jwt_part(body["access_token"], 1)
    assert claims["scope"] == "tenants:read"
    assert claims["sub"] == pixie.user_ids["alice"]


def test_a_code_of_a_user_disabled_since_it_was_issued_is_refused(
    pixie: Pixie, alice: Browser, http: httpx.Client
) -> None:
    """Disabling a user ends the codes in flight: a code (sealed, not stored) is redeemed only for a user who may
    still sign in, so one issued before the user was disabled is ``invalid_grant`` and leaves nothing behind; once
    the user is enabled again, a new code works (the control)."""
    proof = Pkce.new()
    code = _code(alice, proof)
    user = (pixie.user_ids["alice"],)
    assert pixie.execute("UPDATE users SET disabled = 1 WHERE user_id = ?", user) == 1
    try:
        assert_json_error(token_request(http, code, proof.verifier), "invalid_grant")
        assert pixie.query("SELECT 1 FROM authorization_codes WHERE code_hash = ?", (sha256_hex(code),)) == []
    finally:
        assert pixie.execute("UPDATE users SET disabled = 0 WHERE user_id = ?", user) == 1
    fresh = Pkce.new()
    assert token_request(http, _code(alice, fresh), fresh.verifier).status_code == 200
