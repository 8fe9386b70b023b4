"""Helpers of the demo suite: the running demo and real sign-ins through its authorization server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livesupport import free_port, run_coroutine, serve_in_thread
from pixie.config import Settings
from pixie.demo.app import create_demo_app
from pixie.demo.config import CLIENT_ID, SCOPES, USERS, redirect_uri
from pixie.demo.seed import seed_pixie
from pixie.management import register_client
from pixie.server.app import open_backend
from spec.support import Browser, Pixie, Pkce, authorize_pairs, redirect_params, token_request

PASSWORDS = {user.username: user.password for user in USERS}
FULL_SCOPE = " ".join(SCOPES)


@dataclass(frozen=True)
class Demo:
    pixie: Pixie
    demo_db: Path

    @property
    def base(self) -> str:
        return self.pixie.base

    @property
    def api(self) -> str:
        return f"{self.pixie.base}/api"


def consent_page_and_code(
    demo: Demo, username: str, *, client_id: str = CLIENT_ID, scope: str = FULL_SCOPE
) -> tuple[str, str, Pkce]:
    """Sign ``username`` in through a fresh browser and approve consent; the consent page's HTML, the code and
    the PKCE pair."""
    proof = Pkce.new()
    callback = redirect_uri(demo.base)
    # prompt=consent: the page is shown even when an earlier test's approval is remembered.
    pairs = authorize_pairs(
        client_id=client_id, redirect_uri=callback, scope=scope, challenge=proof.challenge, prompt="consent"
    )
    with Browser(demo.pixie) as browser:
        page = browser.login_page(pairs)
        consent = browser.follow(browser.submit_login(page, username, PASSWORDS[username]), "/consent")
        params = redirect_params(browser.submit_consent(consent), callback)
    assert "code" in params, params
    return consent.text, params["code"], proof


def sign_in_tokens(demo: Demo, username: str, *, client_id: str = CLIENT_ID, scope: str = FULL_SCOPE) -> dict[str, Any]:
    """A token response for ``username`` from the real flow (RFC 6749 §4.1, RFC 7636)."""
    _, code, proof = consent_page_and_code(demo, username, client_id=client_id, scope=scope)
    with demo.pixie.client() as http:
        response = token_request(http, code, proof.verifier, client_id=client_id, redirect_uri=redirect_uri(demo.base))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


MASTER_KEY = b"demo-suite-master-key-32-bytes!!"


async def _seed(settings: Settings) -> list[str]:
    async with open_backend(settings) as (storage, _keyring):
        warnings = await seed_pixie(storage, settings.issuer)
        await register_client(
            storage,
            "default",
            "no-audience-spa",
            redirect_uris=[redirect_uri(settings.issuer)],
            public=True,
            scopes=SCOPES,
        )
        return warnings


@contextmanager
def running_demo(root: Path) -> Iterator[Demo]:
    """A seeded demo server over fresh files in ``root``, for as long as the block runs."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=f"sqlite:///{root / 'pixie.db'}", issuer=issuer, master_key=MASTER_KEY, housekeeping_interval=0
    )
    assert run_coroutine(_seed(settings)) == []
    app = create_demo_app(settings, demo_database=root / "pixie-demo.db")
    with serve_in_thread(app, port):
        yield Demo(Pixie(base=issuer, db_path=root / "pixie.db"), root / "pixie-demo.db")
