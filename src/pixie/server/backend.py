"""Opening the backend: the database (migrated), the key ring (checked against the master key), the default tenant
and the dashboard's client, as the server's start-up and every CLI command need them.

Apart from :mod:`pixie.server.app` so that a command opens its database without importing Starlette or the
endpoints, and, on a database already at the newest schema, without SQLAlchemy either (:mod:`pixie.storage.schema`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

from pixie.config import (
    MASTER_KEY_ENV,
    ConfigError,
    MasterKeyMismatch,
    MasterKeySource,
    Settings,
    masked_url,
    read_key_file,
    staged_key_file,
    write_key_file,
)
from pixie.management import ensure_default_tenant
from pixie.security import key_fingerprint
from pixie.server.admin_session import ensure_admin_client
from pixie.storage.interfaces import Storage, StorageUnavailable
from pixie.storage.schema.opening import open_storage
from pixie.storage.schema.urls import normalize_url, sqlite_file
from pixie.tenancy import DEFAULT_TENANT
from pixie.tokens.keys import KeyRing, describe_fingerprints

__all__ = ["check_master_key", "open_backend", "rotation_hint", "settings_from_env"]

log = logging.getLogger("pixie.server")


def settings_from_env(
    *,
    database_url: str | None = None,
    issuer: str | None = None,
    secret_file: str | None = None,
    insecure_allow_http: bool = False,
) -> Settings:
    """:meth:`Settings.from_env`, with the master key's default place: beside a SQLite database's file."""
    return Settings.from_env(
        database_url=database_url,
        issuer=issuer,
        secret_file=secret_file,
        insecure_allow_http=insecure_allow_http,
        database_file=sqlite_file,
    )


@asynccontextmanager
async def open_backend(settings: Settings, *, serving: bool = False) -> AsyncIterator[tuple[Storage, KeyRing]]:
    """Open and migrate the database, check the master key against it (:func:`check_master_key`) and make sure the
    default tenant and its keys exist; close on exit. Shared by the server's lifespan (``serving``: the dashboard's
    client then follows this server's issuer) and every CLI command."""
    try:
        normalize_url(settings.database_url)
    except ValueError as exc:  # a URL of another kind: the user's to fix, not a fault
        raise ConfigError(str(exc)) from None
    async with contextlib.AsyncExitStack() as stack:
        try:
            # SQLite files get the sqlite3 driver, PostgreSQL the asyncpg one (see pixie.storage.schema).
            storage = await stack.enter_async_context(open_storage(settings.database_url))
        except StorageUnavailable as exc:
            # Shown as the user wrote it (the engine's form names the async driver), the password masked.
            from pixie.storage.schema.errors import describe  # only for a database that could not be used

            reason = describe(exc.__cause__) if exc.__cause__ is not None else str(exc)
            raise StorageUnavailable(
                f"cannot use the database at {masked_url(settings.database_url)}: {reason}"
            ) from exc.__cause__
        keyring = KeyRing(storage.keys, settings.master_key)
        await check_master_key(settings, keyring)
        await ensure_default_tenant(storage, keyring)
        await keyring.check_signer(DEFAULT_TENANT, str(settings.master_key_source))
        await ensure_admin_client(storage, settings.issuer, follow_issuer=serving)
        yield storage, keyring


async def check_master_key(settings: Settings, keyring: KeyRing) -> None:
    """Stop before anything is served or stored when the master key is not the one that sealed the database's keys
    (:class:`~pixie.config.MasterKeyMismatch`, one line naming where the key came from and both fingerprints).

    A key file that does not exist yet is written here, and only for a database that holds no sealed keys: a new
    key could never open them, and writing one would hide the key that can.
    """
    source = settings.master_key_source
    if source.pending and source.path is not None:
        sealed_by = await keyring.sealed_by()
        if sealed_by:
            raise MasterKeyMismatch(
                f"no master key file at {source.path}, but this database's signing keys are sealed (by"
                f" {describe_fingerprints(sealed_by)}): restore that key file, or set {MASTER_KEY_ENV} to its key"
            )
        try:
            write_key_file(source.path, settings.master_key)
        except FileExistsError:
            raise MasterKeyMismatch(
                f"{source.path} was created by another process while this one started: run the command again"
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot write the master key file {source.path}: {exc.strerror or exc}") from None
        log.warning(
            "%s is not set: generated a master key into %s (mode 0600); keep it safe, it opens this database's"
            " signing keys",
            MASTER_KEY_ENV,
            source.path,
        )
    try:
        await keyring.check_master_key(str(source))
    except MasterKeyMismatch as exc:
        raise MasterKeyMismatch(f"{exc}{rotation_hint(source, await keyring.sealed_by())}") from None


def rotation_hint(source: MasterKeySource, sealed_by: Collection[str | None]) -> str:
    """What to add to a mismatch when ``pixie secret rotate`` was interrupted: its new key waits beside the old."""
    if source.path is None:
        return ""
    staged = staged_key_file(source.path)
    try:
        key = read_key_file(staged)
    except ConfigError:
        return ""
    if key is None or key_fingerprint(key) not in sealed_by:
        return ""
    return f"; {staged} holds that key: `pixie secret rotate` was interrupted, run it again to finish"
