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

from demo.support import Demo, running_demo, sign_in_tokens


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with running_demo(tmp_path_factory.mktemp("demo")) as running:
        yield running


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
