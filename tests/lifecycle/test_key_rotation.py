"""A token's life across signing-key rotations: the next key is published before it signs, tokens signed before a
rotation keep validating while their key is ``retiring``, and stop once it is ``retired`` (issue 4 item 5).

This module runs its own server (the scenario changes the default tenant's keys). Rotation happens from outside,
through a second connection on the same SQLite file — as ``pixie keys rotate`` would — and the server's key-ring cache
(30 s) is then invalidated, standing in for the wait.

Spec: RFC 7517 §5 (JWK set), RFC 7515 §4.1.4 (``kid``), RFC 9068 §4 (validation), RFC 7662 §2.2.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from lifecycle.support import RS_SECRET, SCOPES
from livesupport import free_port, run_coroutine
from pixie.config import Settings
from pixie.management import ensure_default_tenant, register_client
from pixie.resource import jws
from pixie.storage.schema import open_storage
from pixie.testing import PixieTestServer
from pixie.tokens.keys import KeyRing, RotationReport
from spec.support import TLS, jwt_part

MASTER_KEY = b"rotation-suite-master-key-32by!!"


@dataclass(frozen=True)
class Server:
    base: str
    app: Starlette
    database_url: str

    def rotate(self, *, retire_after: float) -> RotationReport:
        report = run_coroutine(_rotate(self.database_url, retire_after))
        self.app.state.pixie.keyring.invalidate("default")
        return report


async def _seed(database_url: str) -> None:
    async with open_storage(database_url) as storage:
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER_KEY))
        await register_client(
            storage,
            "default",
            "rs",
            redirect_uris=[],
            public=False,
            secret=RS_SECRET,
            scopes=SCOPES,
            grant_types=["client_credentials"],
        )


async def _rotate(database_url: str, retire_after: float) -> RotationReport:
    async with open_storage(database_url) as storage:
        return await KeyRing(storage.keys, MASTER_KEY).rotate("default", retire_after=retire_after)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('rotation') / 'pixie.db'}"
    run_coroutine(_seed(database_url))
    port = free_port()
    settings = Settings(
        database_url=database_url, issuer=f"http://127.0.0.1:{port}", master_key=MASTER_KEY, housekeeping_interval=0
    )
    with PixieTestServer(settings) as pixie:
        yield Server(base=pixie.base_url, app=pixie.app, database_url=database_url)


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base, verify=TLS, timeout=20, auth=("rs", RS_SECRET)) as client:
        yield client


def _token(http: httpx.Client) -> str:
    response = http.post("/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _jwks(http: httpx.Client) -> dict[str, Any]:
    response = http.get("/jwks.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _kids(jwks: dict[str, Any]) -> list[str]:
    return [key["kid"] for key in jwks["keys"]]


def _active(http: httpx.Client, token: str) -> bool:
    response = http.post("/introspect", data={"token": token})
    assert response.status_code == 200, response.text
    return bool(response.json()["active"])


def _verifies(token: str, jwks: dict[str, Any]) -> bool:
    """What a resource server does with the published JWKS (RFC 9068 §4 step 3: signature by a published key)."""
    try:
        jws.verify_jwt(token, jwks)
    except jws.JWSError:
        return False
    return True


def test_token_survives_rotation_until_its_key_is_retired(server: Server, http: httpx.Client) -> None:
    """Issue 4 item 5: next → active → retiring → retired.

    1. Before any rotation the JWKS (RFC 7517 §5) holds the active key and the ``next`` one; tokens name the active
       key in ``kid`` (RFC 7515 §4.1.4).
    2. Rotation: the former ``next`` key — already published — signs new tokens; the old key is ``retiring``, still
       published (3 keys), so the old token still verifies and introspects active (RFC 7662 §2.2).
    3. Second rotation retiring keys at once: the first key leaves the JWKS; the old token no longer verifies and
       introspects inactive, while the token of the second key (now retiring) is still active.
    """
    old_token = _token(http)
    first_kid = jwt_part(old_token, 0)["kid"]
    before = _jwks(http)
    assert len(before["keys"]) == 2
    assert first_kid in _kids(before)

    report = server.rotate(retire_after=3600)
    assert report.demoted == first_kid and report.retired == ()
    assert report.activated in _kids(before), "the new signing key was published before it signed"

    after = _jwks(http)
    assert sorted(_kids(after)) == sorted([first_kid, report.activated, report.new_next])
    assert _active(http, old_token)
    assert _verifies(old_token, after)
    new_token = _token(http)
    assert jwt_part(new_token, 0)["kid"] == report.activated != first_kid
    assert _active(http, new_token)

    second = server.rotate(retire_after=0)
    assert second.retired == (first_kid,)

    final = _jwks(http)
    assert first_kid not in _kids(final)
    assert sorted(_kids(final)) == sorted([report.activated, second.activated, second.new_next])
    assert not _verifies(old_token, final)
    assert not _active(http, old_token)
    assert _active(http, new_token), "the second key is only retiring: its tokens stay valid"
    assert jwt_part(_token(http), 0)["kid"] == second.activated
