"""IntrospectionVerifier against the real Pixie introspection endpoint.

Spec: RFC 7662 §2.1 (request, client authentication), §2.2 (``active``), §4 (audience, caching trade-off).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from resource_support import AUDIENCE, SECRETS

from livesupport import free_port
from pixie.errors import InvalidToken, ServerError, TemporarilyUnavailable
from pixie.resource import IntrospectionVerifier

Pixie = Any
RS_ID = AUDIENCE  # the resource server authenticates as the audience its tokens carry
RS_SECRET = SECRETS[RS_ID]


def introspector(pixie: Pixie, http: httpx.AsyncClient, **kwargs: Any) -> IntrospectionVerifier:
    options: dict[str, Any] = {"audience": AUDIENCE, "issuer": pixie.base, **kwargs}
    return IntrospectionVerifier(f"{pixie.base}/introspect", RS_ID, RS_SECRET, http=http, **options)


async def test_active_token_and_positive_cache(pixie: Pixie, http: httpx.AsyncClient) -> None:
    """RFC 7662 §2.2: an active token's claims become the AccessToken; a repeat within the cache period costs no
    call."""
    verifier = introspector(pixie, http)
    token = pixie.mint("reader")
    first = await verifier.verify(token)
    second = await verifier.verify(token)
    assert first == second
    assert (first.subject, first.client_id, first.scopes) == ("reader", "reader", {"properties:read"})
    assert first.audience == (AUDIENCE,) and first.issuer == pixie.base
    assert verifier.calls == 1


async def test_revocation_is_seen_after_the_cache_period(pixie: Pixie, http: httpx.AsyncClient) -> None:
    """RFC 7662 §4: a revoked token is refused once the cached answer has expired (here: no cache at all)."""
    verifier = introspector(pixie, http, cache_seconds=0)
    token = pixie.mint("writer")
    assert (await verifier.verify(token)).client_id == "writer"
    revoked = await http.post(f"{pixie.base}/revoke", data={"token": token}, auth=("writer", SECRETS["writer"]))
    assert revoked.status_code == 200
    with pytest.raises(InvalidToken, match="not active"):
        await verifier.verify(token)
    assert verifier.calls == 2


async def test_inactive_answers_are_not_cached(pixie: Pixie, http: httpx.AsyncClient) -> None:
    verifier = introspector(pixie, http)
    for _ in range(3):
        with pytest.raises(InvalidToken):
            await verifier.verify("not-a-token-pixie-issued")
    assert verifier.calls == 3


async def test_audience_is_checked(pixie: Pixie, http: httpx.AsyncClient) -> None:
    """RFC 7662 §4: the resource server checks the token is meant for it — even when the authorization server
    says it is active (here: a verifier configured for another audience than the token's)."""
    with pytest.raises(InvalidToken, match="another audience"):
        await introspector(pixie, http, audience="https://other.example").verify(pixie.mint("writer"))
    unchecked = introspector(pixie, http, audience=None)
    assert (await unchecked.verify(pixie.mint("writer"))).client_id == "writer"


async def test_a_token_for_another_audience_is_inactive_at_pixie(pixie: Pixie, http: httpx.AsyncClient) -> None:
    """RFC 7662 §2.2, §4: Pixie tells a resource server nothing about a token meant for another one — not even
    with the verifier's own audience check switched off."""
    with pytest.raises(InvalidToken, match="not active"):
        await introspector(pixie, http, audience=None).verify(pixie.mint("elsewhere"))


async def test_wrong_resource_server_secret_is_a_server_error(pixie: Pixie, http: httpx.AsyncClient) -> None:
    """Our own credentials refused is a misconfiguration (500), not the caller's bad token (401)."""
    verifier = IntrospectionVerifier(f"{pixie.base}/introspect", RS_ID, "wrong-secret", audience=AUDIENCE, http=http)
    with pytest.raises(ServerError):
        await verifier.verify(pixie.mint())


async def test_unreachable_endpoint_is_503(http: httpx.AsyncClient) -> None:
    verifier = IntrospectionVerifier(
        f"http://127.0.0.1:{free_port()}/introspect", RS_ID, RS_SECRET, audience=AUDIENCE, http=http
    )
    with pytest.raises(TemporarilyUnavailable):
        await verifier.verify("some-token")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        pytest.param({"active": False}, "not active", id="inactive"),
        pytest.param({"active": "true", "client_id": "c"}, "not active", id="active-as-string"),
        pytest.param(
            {"active": True, "token_type": "refresh_token", "client_id": "c"},
            "not an access token",
            id="refresh-token-as-bearer",
        ),
        pytest.param({"active": True}, "client_id", id="no-client-id"),
        pytest.param({"active": True, "client_id": "c", "iss": "https://evil.example"}, "another issuer", id="iss"),
        pytest.param(
            {"active": True, "client_id": "c", "iss": "https://as.example", "aud": ["x"]}, "audience", id="aud"
        ),
        pytest.param(
            {"active": True, "client_id": "c", "iss": "https://as.example", "aud": AUDIENCE, "exp": 1},
            "expired",
            id="exp-passed",
        ),
    ],
)
def test_introspection_response_rules(body: dict[str, Any], why: str) -> None:
    """RFC 7662 §2.2: only ``active: true`` (the JSON boolean) counts; a refresh token is not a bearer token."""
    from pixie.resource.introspection import access_token_from_introspection

    with pytest.raises(InvalidToken, match=why):
        access_token_from_introspection(body, issuer="https://as.example", audience=AUDIENCE, now=1000, leeway=30)
