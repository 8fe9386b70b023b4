"""One real demo server for the package: Pixie + the Property API + the SPA (``create_demo_app``), on loopback,
seeded by ``seed_pixie`` exactly as ``pixie demo`` does, over a fresh SQLite file and a fresh demo store.

Tokens come from the real flow over HTTP (login form, consent, code, PKCE token request): ``alice`` (a property
manager: every scope), ``bob`` (read only: his request for every scope is narrowed). The extra public client
``no-audience-spa`` has no audience, so its tokens carry ``aud`` = the issuer — not for this API.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from demo.support import Demo, sign_in_tokens
from livesupport import free_port, run_coroutine, serve_in_thread
from pixie.config import Settings
from pixie.demo.app import create_demo_app
from pixie.demo.config import SCOPES, redirect_uri
from pixie.demo.seed import seed_pixie
from pixie.management import register_client
from pixie.server.app import open_backend
from spec.support import Pixie

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


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("demo")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=f"sqlite:///{root / 'pixie.db'}", issuer=issuer, master_key=MASTER_KEY, housekeeping_interval=0
    )
    assert run_coroutine(_seed(settings)) == []
    app = create_demo_app(settings, demo_database=root / "pixie-demo.db")
    with serve_in_thread(app, port):
        yield Demo(Pixie(base=issuer, db_path=root / "pixie.db"), root / "pixie-demo.db")


@pytest.fixture(scope="package")
def alice(demo: Demo) -> dict[str, Any]:
    return sign_in_tokens(demo, "alice")


@pytest.fixture(scope="package")
def bob(demo: Demo) -> dict[str, Any]:
    return sign_in_tokens(demo, "bob")


@pytest.fixture
def http(demo: Demo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.api, timeout=20) as client:
        yield client
