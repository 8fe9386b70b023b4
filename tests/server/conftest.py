from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from livesupport import free_port
from pixie.config import Settings
from pixie.testing import PixieTestServer

MASTER_KEY = base64.urlsafe_b64decode("qvT9hG2cT0Sx3c0d4oQk8m3n2Vb7yZ1aP5sL6eR9wUc=")


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    port = free_port()
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'server.db'}",
        issuer=f"http://127.0.0.1:{port}",
        master_key=MASTER_KEY,
    )


@pytest.fixture
def live_server() -> Iterator[str]:
    """A real Pixie server on a loopback port, backed by a fresh SQLite file (:mod:`pixie.testing`'s, of this test
    alone). Yields its base URL (the issuer)."""
    with PixieTestServer() as server:
        yield server.issuer
