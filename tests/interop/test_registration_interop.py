"""A third-party client library (oauth4webapi, Node) registers itself with Pixie (RFC 7591), then signs in with the
``client_id`` it was given; and its registration request is refused with an RFC 7591 error it understands.

oauth4webapi finds ``registration_endpoint`` in Pixie's metadata, sends the metadata (with an initial access token
when given one), and checks the 201 response's shape (``client_id`` present, JSON object).

Spec: RFC 7591 §3.1, §3.2.1, §3.2.2; RFC 8414 §2 (``registration_endpoint``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from interop_support import browse_to_callback
from interop_support import node as run_node

from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import Settings
from pixie.management import create_tenant, create_user, ensure_default_tenant, update_tenant_settings
from pixie.registration import create_registration_token
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing

REDIRECT = "http://127.0.0.1:9999/cb"
MASTER = b"interop-master-key-registrations!"


async def _seed(database_url: str) -> str:
    async with open_storage(database_url) as storage:
        ring = KeyRing(storage.keys, MASTER)
        await ensure_default_tenant(storage, ring)
        await update_tenant_settings(storage, "default", {"registration": "open", "registration_scopes": "notes:read"})
        await create_tenant(storage, ring, "tok", settings=None)
        await update_tenant_settings(storage, "tok", {"registration": "token"})
        await create_user(storage, "default", "bob", "bob-password-1")
        return (await create_registration_token(storage, "tok")).token


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    port = free_port()
    database_url = f"sqlite:///{tmp_path_factory.mktemp('interop-reg') / 'interop.db'}"
    token = run_coroutine(_seed(database_url))
    settings = Settings(database_url=database_url, issuer=f"http://127.0.0.1:{port}", master_key=MASTER)
    with serve_pixie(settings) as url:
        yield url, token


def test_oauth4webapi_registers_and_signs_in(server: tuple[str, str]) -> None:
    issuer, _ = server
    metadata = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "scope": "notes:read"}
    client = run_node("register_client.mjs", issuer, json.dumps(metadata))
    assert isinstance(client.get("client_id"), str), client
    assert client["token_endpoint_auth_method"] == "none"
    assert isinstance(client["registration_access_token"], str)
    client_id = str(client["client_id"])
    started = run_node("strict_client.mjs", "start", issuer, client_id, REDIRECT, "notes:read")
    callback = browse_to_callback(str(started["url"]), REDIRECT, "bob", "bob-password-1")
    result = run_node(
        "strict_client.mjs",
        "finish",
        issuer,
        client_id,
        REDIRECT,
        str(started["state"]),
        str(started["verifier"]),
        callback,
    )
    assert result["ok"] is True and result["scope"] == "notes:read", result


def test_oauth4webapi_registers_with_an_initial_access_token(server: tuple[str, str]) -> None:
    issuer, token = server
    metadata = {"redirect_uris": ["https://app.example/cb"]}
    client = run_node("register_client.mjs", f"{issuer}/t/tok", json.dumps(metadata), token)
    assert client["token_endpoint_auth_method"] == "client_secret_basic", client
    assert isinstance(client["client_secret"], str)
    refused = run_node("register_client.mjs", f"{issuer}/t/tok", json.dumps(metadata), "wrong.token")
    assert refused == {"rejected": "invalid_token", "scheme": "bearer"}


def test_oauth4webapi_sees_the_rfc_7591_error(server: tuple[str, str]) -> None:
    issuer, _ = server
    refused = run_node("register_client.mjs", issuer, json.dumps({"redirect_uris": ["http://app.example/cb"]}))
    assert refused == {"rejected": "invalid_redirect_uri"}
