from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from livesupport import free_port, serve_in_thread
from pixie.config import Settings
from pixie.server.app import create_app

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
def live_server(server_settings: Settings) -> Iterator[str]:
    """A real Pixie server on a loopback port, backed by a fresh SQLite file. Yields its base URL (the issuer)."""
    port = int(server_settings.issuer.rsplit(":", 1)[1])
    with serve_in_thread(create_app(server_settings), port) as url:
        yield url
