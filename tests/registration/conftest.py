"""A real Pixie server for the dynamic-registration tests, on loopback, backed by a fresh SQLite file.

Tenants: ``default`` registers openly (scopes ``notes:read notes:write`` may be registered), ``tok`` only with an
initial access token (made here, :attr:`Server.initial_token`), ``closed`` not at all (the default policy).
``default`` also protects ``https://calendar.example/api`` (scope ``calendar:read``), a registered resource.
``docs`` accepts client metadata documents, from loopback too (the development setting), and registrations;
``strict`` accepts them
from global addresses only. User ``alice`` exists in ``default`` and ``docs``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import RateLimits, Settings
from pixie.management import create_tenant, create_user, ensure_default_tenant, update_tenant_settings
from pixie.protected_resources import create_resource
from pixie.registration import create_registration_token
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing

MASTER_KEY = b"registration-tests-master-key-32"
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Server:
    base: str
    database_url: str
    db_path: Path
    initial_token: str

    def row(self, sql: str, *args: object) -> tuple[object, ...] | None:
        with sqlite3.connect(self.db_path) as db:
            found: tuple[object, ...] | None = db.execute(sql, args).fetchone()
            return found


async def _seed(database_url: str) -> str:
    async with open_storage(database_url) as storage:
        keyring = KeyRing(storage.keys, MASTER_KEY)
        await ensure_default_tenant(storage, keyring)
        await update_tenant_settings(
            storage, "default", {"registration": "open", "registration_scopes": "notes:read notes:write"}
        )
        await create_tenant(storage, keyring, "tok", settings=None)
        await update_tenant_settings(storage, "tok", {"registration": "token", "registration_scopes": ["notes:read"]})
        await create_tenant(storage, keyring, "closed", settings=None)
        await create_tenant(storage, keyring, "docs", settings=None)
        await update_tenant_settings(
            storage,
            "docs",
            {
                "client_metadata_documents": True,
                "insecure_client_metadata_loopback": True,
                "registration": "open",
                "registration_scopes": "notes:read",
            },
        )
        await create_user(storage, "docs", "alice", PASSWORD)
        await create_tenant(storage, keyring, "strict", settings=None)
        await update_tenant_settings(storage, "strict", {"client_metadata_documents": True})
        await create_user(storage, "default", "alice", PASSWORD)
        await create_resource(storage, "default", "https://calendar.example/api", scopes=["calendar:read"])
        return (await create_registration_token(storage, "tok")).token


def start(tmp_path: Path, *, rate_limits: RateLimits | None = None) -> Iterator[Server]:
    db_path = tmp_path / "pixie.db"
    database_url = f"sqlite:///{db_path}"
    token = run_coroutine(_seed(database_url))
    port = free_port()
    settings = Settings(
        database_url=database_url,
        issuer=f"http://127.0.0.1:{port}",
        master_key=MASTER_KEY,
        rate_limits=rate_limits or RateLimits(register_per_ip="1000/hour"),
    )
    with serve_pixie(settings) as base:
        yield Server(base=base, database_url=database_url, db_path=db_path, initial_token=token)


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start(tmp_path_factory.mktemp("registration"))
