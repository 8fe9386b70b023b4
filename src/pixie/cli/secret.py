"""``pixie secret rotate``: seal everything the master key protects under a new master key.

The master key seals, at rest, the private half of every tenant's signing keys and every webhook secret. Rotating
opens each one and seals it again under the new key; the signing keys and secrets themselves do not change, so the
JWKS, tokens issued before and webhook receivers are unaffected. Stop every server first: a running server holds the
old key in memory and could not open what is re-sealed under its feet.

The order makes an interrupted run safe to repeat, and leaves at every moment a key file that opens the database:

1. The new key is on disk before the database changes: beside the key file as ``pixie.secret.new`` (mode 0600,
   flushed), or, when the key comes from ``PIXIE_SECRET_KEY``, wherever the operator keeps it (``--new-secret-file``
   or ``--new-secret-stdin``). Everything is opened first, so a key that neither master key opens stops the command
   before anything is written.
2. The signing keys of every tenant are re-sealed in one transaction, then each tenant's webhook secrets. A value
   already sealed under the new key is left as it is, so running the command again finishes an interrupted run
   (it picks up ``pixie.secret.new``); a server started in between stops with the fingerprint mismatch and says so.
3. Only then is the key file replaced: the old key is kept as ``pixie.secret.old`` (needed only to restore a backup
   taken before the rotation), and ``pixie.secret.new`` is renamed over ``pixie.secret`` (atomic).
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from pixie.cli.main import cli, command_settings, database_option, run_async
from pixie.config import (
    ConfigError,
    MasterKeyMismatch,
    MasterKeySource,
    decode_key,
    read_key_file,
    retired_key_file,
    staged_key_file,
    sync_directory,
    write_key_file,
)
from pixie.security import DecryptionFailed, constant_time_equals, key_fingerprint
from pixie.storage.records import SigningKey, Tenant
from pixie.storage.schema import open_storage
from pixie.tokens.keys import reseal_keys
from pixie.webhooks import Webhook, reseal_webhooks, webhooks_from_settings, webhooks_to_settings

__all__ = ["rotate", "secret"]


@dataclass(frozen=True)
class _NewKey:
    key: bytes
    create: Path | None = None
    """A ``--new-secret-file`` that does not exist yet: the generated key is written there."""
    resumed: bool = False
    """Taken from ``pixie.secret.new``, left by an interrupted rotation."""


@dataclass(frozen=True)
class _Plan:
    keys: list[SigningKey]
    webhooks: list[tuple[Tenant, tuple[Webhook, ...]]]
    webhook_secrets: int


@cli.group()
def secret() -> None:
    """The master key that seals signing keys and webhook secrets at rest."""


@secret.command("rotate")
@click.option(
    "--new-secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Take the new master key from this file (created, mode 0600, with a fresh key when it does not exist).",
)
@click.option("--new-secret-stdin", is_flag=True, help="Read the new master key (base64url) from standard input.")
@database_option
def rotate(new_secret_file: Path | None, new_secret_stdin: bool, database_url: str) -> None:
    """Re-seal every tenant's signing keys and webhook secrets under a new master key (stop the servers first).

    With a key file (beside a SQLite database, or --secret-file), the new key replaces it and the old one is kept
    as FILE.old. With PIXIE_SECRET_KEY, give the new key with --new-secret-file or --new-secret-stdin, then set
    PIXIE_SECRET_KEY to it. Run again to finish a rotation that was interrupted.
    """
    if new_secret_file is not None and new_secret_stdin:
        raise click.UsageError("give the new key with --new-secret-file or --new-secret-stdin, not both")
    settings = command_settings(database_url)
    source = settings.master_key_source
    if source.pending:
        raise click.ClickException(f"{source.path} does not exist: there is no master key to rotate")
    if source.path is None and new_secret_file is None and not new_secret_stdin:
        raise ConfigError(
            f"the master key comes from {source}: give the new one with --new-secret-file PATH or --new-secret-stdin"
        )
    old = settings.master_key
    _refuse_to_lose_a_key(source, old)
    new = _new_key(source, new_secret_file, new_secret_stdin)
    if constant_time_equals(new.key, old):
        raise click.ClickException(f"the new master key is the current one (fingerprint {key_fingerprint(old)})")
    plan = run_async(_rotate(database_url, source, old, new))
    if source.path is not None:
        _install(source.path, old)
    _report(source, old, new, plan)


def _refuse_to_lose_a_key(source: MasterKeySource, current: bytes) -> None:
    """``FILE.old`` may hold the key of a backup: never overwrite it with another."""
    if source.path is None:
        return
    retired = retired_key_file(source.path)
    kept = read_key_file(retired)
    if kept is not None and not constant_time_equals(kept, current):
        raise click.ClickException(
            f"{retired} holds an earlier master key (fingerprint {key_fingerprint(kept)}): move it somewhere safe"
            " first (a backup of the database from before that rotation needs it)"
        )


def _new_key(source: MasterKeySource, new_secret_file: Path | None, new_secret_stdin: bool) -> _NewKey:
    staged = read_key_file(staged_key_file(source.path)) if source.path is not None else None
    given: bytes | None = None
    create: Path | None = None
    if new_secret_stdin:
        given = decode_key(sys.stdin.readline().strip(), "the new key on standard input")
    elif new_secret_file is not None:
        given = read_key_file(new_secret_file.absolute())
        if given is None:
            given, create = secrets.token_bytes(32), new_secret_file.absolute()
    if staged is None:
        return _NewKey(given if given is not None else secrets.token_bytes(32), create=create)
    if given is not None and (create is not None or not constant_time_equals(given, staged)):
        assert source.path is not None
        raise click.ClickException(
            f"{staged_key_file(source.path)} holds the new key of an interrupted rotation (fingerprint"
            f" {key_fingerprint(staged)}): run again without a new key to finish it, or delete that file if the"
            " database holds nothing sealed under it"
        )
    return _NewKey(staged, resumed=True)


async def _rotate(database_url: str, source: MasterKeySource, old: bytes, new: _NewKey) -> _Plan:
    # The schema's open_storage, not the CLI's: the master-key check of every other command would refuse the very
    # state an interrupted rotation leaves, and a rotation creates no tenant or key.
    async with open_storage(database_url) as storage:
        plan = _open_everything(await storage.keys.list_all(), await storage.tenants.list(), old, new.key)
        # Nothing has been written yet. First the new key, then the database.
        if new.create is not None:
            _write_new_key(new.create, new.key)
        if source.path is not None and not new.resumed:
            _write_new_key(staged_key_file(source.path), new.key)
        await storage.keys.reseal(plan.keys)
        for tenant, hooks in plan.webhooks:
            settings = dataclasses.replace(tenant.settings, webhooks=webhooks_to_settings(hooks))
            await storage.tenants.update_settings(tenant.id, settings)
        return plan


def _open_everything(keys: list[SigningKey], tenants: list[Tenant], old: bytes, new: bytes) -> _Plan:
    """Open every sealed value with the old key (or, run again, the new one) and seal it under the new key, in
    memory: a value that neither opens stops the rotation before anything has been written."""
    resealed = reseal_keys(keys, old, new)
    webhooks: list[tuple[Tenant, tuple[Webhook, ...]]] = []
    count = 0
    for tenant in tenants:
        try:
            hooks, moved = reseal_webhooks(tenant.id, webhooks_from_settings(tenant.settings.webhooks), old, new)
        except DecryptionFailed as exc:
            raise MasterKeyMismatch(
                f"{exc} (current {key_fingerprint(old)}, new {key_fingerprint(new)}); nothing was changed"
            ) from None
        if moved:
            webhooks.append((tenant, hooks))
            count += moved
    return _Plan(keys=resealed, webhooks=webhooks, webhook_secrets=count)


def _write_new_key(path: Path, key: bytes) -> None:
    try:
        write_key_file(path, key)
    except OSError as exc:
        raise click.ClickException(
            f"cannot write the new master key to {path} ({(exc.strerror or str(exc)).lower()}); nothing was changed"
        ) from None


def _install(path: Path, old: bytes) -> None:
    """Keep the old key as ``FILE.old``, then rename ``FILE.new`` over ``FILE`` (atomic) and flush the directory."""
    retired, staged = retired_key_file(path), staged_key_file(path)
    try:
        if read_key_file(retired) is None:
            write_key_file(retired, old)
        os.replace(staged, path)
    except OSError as exc:
        raise click.ClickException(
            f"the database is now sealed under the key in {staged}, but installing it failed"
            f" ({(exc.strerror or str(exc)).lower()}): keep {path} as {retired} and rename {staged} to {path}"
        ) from None
    sync_directory(path.parent)


def _report(source: MasterKeySource, old: bytes, new: _NewKey, plan: _Plan) -> None:
    summary: dict[str, object] = {
        "fingerprint": key_fingerprint(new.key),
        "previous_fingerprint": key_fingerprint(old),
        "signing_keys": len(plan.keys),
        "webhook_secrets": plan.webhook_secrets,
        "key_file": str(source.path) if source.path is not None else None,
        "previous_key_file": str(retired_key_file(source.path)) if source.path is not None else None,
    }
    click.echo(json.dumps(summary))
    if source.path is not None:
        click.echo(
            f"the new master key is in {source.path}; the old one is kept in {retired_key_file(source.path)}, needed"
            " only to restore a backup taken before now. Start the servers again.",
            err=True,
        )
    else:
        where = f" (it is in {new.create})" if new.create is not None else ""
        click.echo(
            f"set {source} to the new master key{where} and start the servers again: with the old key they refuse"
            " to start",
            err=True,
        )
