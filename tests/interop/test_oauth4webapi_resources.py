"""oauth4webapi, a strict third-party client, asks Pixie for tokens meant for protected resources (RFC 8707) and
checks them as a resource server would (its ``validateJwtAccessToken``, RFC 9068 §4): the token is accepted with
the resource's own identifier as the audience and refused with another's; a refresh narrows to one resource; an
unregistered resource is ``invalid_target``. It also reads a ``pixie.resource``-protected API's challenge and RFC
9728 metadata (``resourceDiscoveryRequest``, which holds the document's ``resource`` to the identifier asked for).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from interop_support import browse_to_callback
from interop_support import node as run_node
from starlette.types import Receive, Scope, Send

from livesupport import free_port, run_coroutine, serve_in_thread, serve_pixie
from pixie.config import Settings
from pixie.management import create_user, ensure_default_tenant, register_client
from pixie.protected_resources import create_resource
from pixie.resource import BearerAuthMiddleware, JWTVerifier, ResourceMetadata
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing

REDIRECT = "http://127.0.0.1:9999/cb"
MASTER = b"interop-master-key-resources-32by"
ORDERS = "https://orders.example/api"
BILLING = "https://billing.example/"


def node(*args: str) -> dict[str, object]:
    return run_node("resource_client.mjs", *args)


async def _seed(database_url: str, api: str) -> None:
    async with open_storage(database_url) as storage:
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER))
        await register_client(
            storage, "default", "interop", redirect_uris=[REDIRECT], public=True, scopes=["orders", "billing"]
        )
        await create_user(storage, "default", "bob", "bob-password-1")
        await create_resource(storage, "default", ORDERS, name="Orders", scopes=["orders"])
        await create_resource(storage, "default", BILLING, name="Billing", scopes=["billing"])
        await create_resource(storage, "default", api, name="Loopback API", scopes=["orders"])


class _Hello:
    """The API behind the middleware: answers with the token's audience; closes the verifier when it stops."""

    def __init__(self, verifier: JWTVerifier) -> None:
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await self.verifier.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = json.dumps({"aud": list(scope["auth"].audience)}).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class Servers:
    issuer: str
    api: str  # a pixie.resource-protected API and its resource identifier


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    port, api_port = free_port(), free_port()
    issuer, api = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{api_port}/api"
    database_url = f"sqlite:///{tmp_path_factory.mktemp('interop') / 'resources.db'}"
    run_coroutine(_seed(database_url, api))
    settings = Settings(database_url=database_url, issuer=issuer, master_key=MASTER)
    verifier = JWTVerifier(issuer, api)
    metadata = ResourceMetadata.of(api, issuer, scopes_supported=["orders"])
    protected = BearerAuthMiddleware(_Hello(verifier), verifier, metadata=metadata)
    with serve_pixie(settings), serve_in_thread(protected, api_port):
        yield Servers(issuer, api)


@pytest.fixture(scope="module")
def issuer(servers: Servers) -> str:
    return servers.issuer


def _sign_in(issuer: str, *resources: str, token_resources: tuple[str, ...] = ()) -> dict[str, object]:
    started = node("start", issuer, "interop", REDIRECT, "orders billing", *resources)
    callback = browse_to_callback(str(started["url"]), REDIRECT, "bob", "bob-password-1")
    state, verifier = str(started["state"]), str(started["verifier"])
    return node("finish", issuer, "interop", REDIRECT, state, verifier, callback, *token_resources)


def test_a_token_for_one_resource_is_accepted_there_and_refused_elsewhere(issuer: str) -> None:
    """RFC 8707 §2: ``aud`` is the resource; RFC 9068 §4: a resource server refuses any other audience."""
    result = _sign_in(issuer, ORDERS)
    assert result["ok"] is True and result["scope"] == "orders", result
    token = str(result["access_token"])
    assert node("check", issuer, token, ORDERS) == {"ok": True, "aud": ORDERS, "scope": "orders"}
    assert node("check", issuer, token, BILLING) == {"rejected": "OAUTH_JWT_CLAIM_COMPARISON_FAILED"}


def test_a_refresh_narrows_to_one_of_two_resources(issuer: str) -> None:
    """RFC 8707 §2.2: the client names one of the granted resources at the refresh; the new token is for it
    alone; a resource outside the grant is ``invalid_target``."""
    result = _sign_in(issuer, ORDERS, BILLING)
    assert result["ok"] is True and result["scope"] == "orders billing", result
    both = str(result["access_token"])
    assert node("check", issuer, both, BILLING)["ok"] is True
    narrowed = node("refresh", issuer, "interop", str(result["refresh_token"]), BILLING)
    assert narrowed["ok"] is True and narrowed["scope"] == "billing", narrowed
    assert node("check", issuer, str(narrowed["access_token"]), BILLING)["aud"] == BILLING
    assert node("check", issuer, str(narrowed["access_token"]), ORDERS) == {
        "rejected": "OAUTH_JWT_CLAIM_COMPARISON_FAILED"
    }
    outside = node("refresh", issuer, "interop", str(narrowed["refresh_token"]), "https://other.example/")
    assert outside == {"rejected": "invalid_target"}


def test_the_token_request_is_refused_for_a_resource_the_code_was_not_for(issuer: str) -> None:
    """RFC 8707 §2.2: the code is bound to its resources."""
    assert _sign_in(issuer, ORDERS, token_resources=(BILLING,)) == {"rejected": "invalid_target"}


def test_a_client_follows_the_challenge_to_the_metadata_and_a_token(servers: Servers) -> None:
    """RFC 9728 §5.1: the challenge names the metadata; §3, §3.3: oauth4webapi fetches it from the path-suffixed
    well-known URL and holds ``resource`` to the identifier; RFC 8707: the token it gets for it opens the API."""
    refused = node("challenge", "-", f"{servers.api}/hello")
    challenge = refused["challenges"][0]  # type: ignore[index]
    assert challenge["scheme"] == "bearer" and challenge["parameters"]["error"] == "invalid_token"
    metadata_url = challenge["parameters"]["resource_metadata"]
    assert metadata_url == servers.api.replace("/api", "/.well-known/oauth-protected-resource/api")
    discovered = node("discover", "-", servers.api)
    assert discovered["ok"] is True, discovered
    metadata = discovered["metadata"]
    assert metadata["resource"] == servers.api and metadata["authorization_servers"] == [servers.issuer]  # type: ignore[index]
    assert metadata["scopes_supported"] == ["orders"] and metadata["bearer_methods_supported"] == ["header"]  # type: ignore[index]

    result = _sign_in(servers.issuer, servers.api)
    assert result["ok"] is True and result["scope"] == "orders", result
    answer = httpx.get(f"{servers.api}/hello", headers={"Authorization": f"Bearer {result['access_token']}"})
    assert answer.status_code == 200 and answer.json() == {"aud": [servers.api]}
