"""``pixie secret rotate``: every signing key and webhook secret re-sealed under a new master key (ARCHITECTURE §4).

The sealed values themselves do not change: the JWKS stays the same, tokens issued before still verify, webhook
receivers keep their secret. Afterwards the old key is refused like any wrong key. An interrupted rotation leaves a
database some key file opens, and running the command again finishes it.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import httpx
import pytest

from livesupport import free_port, run_coroutine
from masterkey.support import (
    bare_env,
    client_credentials,
    create_service_client,
    key_text,
    one_line_error,
    pixie,
    serving,
)
from pixie.resource import JWTVerifier
from pixie.security import key_fingerprint
from pixie.storage.schema import open_storage
from pixie.tokens.keys import reseal_keys
from pixie.webhooks import open_secret, webhooks_from_settings

HOOK = "https://hooks.example/pixie"


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _read_key(path: Path) -> bytes:
    return _decode(path.read_text().strip())


def _add_webhook(env: dict[str, str], cwd: Path) -> str:
    added = pixie(["webhooks", "add", HOOK], env, cwd)
    assert added.returncode == 0, added.stderr
    secret: str = json.loads(added.stdout)["secret"]
    return secret


async def _webhook_secret(url: str, master_key: bytes) -> str:
    async with open_storage(url) as storage:
        tenant = await storage.tenants.get("default")
        assert tenant is not None
        (hook,) = webhooks_from_settings(tenant.settings.webhooks)
        return open_secret(master_key, "default", hook)


async def _verify(issuer: str, token: str) -> str:
    """The token's client, as a resource server that fetches the issuer's JWKS sees it (RFC 9068 §4)."""
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    audience = claims["aud"] if isinstance(claims["aud"], str) else claims["aud"][0]
    verifier = JWTVerifier(issuer, audience=audience)
    try:
        return (await verifier.verify(token)).client_id
    finally:
        await verifier.aclose()


async def _reseal_signing_keys(url: str, old: bytes, new: bytes) -> None:
    async with open_storage(url) as storage:
        await storage.keys.reseal(reseal_keys(await storage.keys.list_all(), old, new))


async def _fingerprints(url: str) -> dict[str | None, int]:
    async with open_storage(url) as storage:
        return await storage.keys.fingerprints()


def test_rotate_moves_every_sealed_value_to_a_new_key_file(tmp_path: Path) -> None:
    """The key beside the database is replaced (the old one kept as ``pixie.secret.old``); the old key is then
    refused in one line, the new one serves the same JWKS, and a token issued before the rotation still verifies."""
    url = f"sqlite:///{tmp_path / 'pixie.db'}"
    env = bare_env(url)
    create_service_client(env, tmp_path)
    webhook_secret = _add_webhook(env, tmp_path)
    key_file = tmp_path / "pixie.secret"
    old = _read_key(key_file)
    port = free_port()  # the same issuer before and after
    with serving(["serve"], env, tmp_path, port) as base:
        before = client_credentials(base).json()["access_token"]
        jwks = httpx.get(f"{base}/jwks.json").json()

    rotated = pixie(["secret", "rotate"], env, tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    new = _read_key(key_file)
    report = json.loads(rotated.stdout)
    assert report == {
        "fingerprint": key_fingerprint(new),
        "previous_fingerprint": key_fingerprint(old),
        "signing_keys": 2,
        "webhook_secrets": 1,
        "key_file": str(key_file),
        "previous_key_file": str(tmp_path / "pixie.secret.old"),
    }
    assert new != old and _read_key(tmp_path / "pixie.secret.old") == old
    assert not (tmp_path / "pixie.secret.new").exists()
    for path in (key_file, tmp_path / "pixie.secret.old"):
        assert path.stat().st_mode & 0o777 == 0o600
    for key in (old, new):
        assert key_text(key).rstrip("=") not in rotated.stdout + rotated.stderr
    assert run_coroutine(_fingerprints(url)) == {key_fingerprint(new): 2}
    assert run_coroutine(_webhook_secret(url, new)) == webhook_secret

    refused = one_line_error(pixie(["keys", "list"], bare_env(url, {"PIXIE_SECRET_KEY": key_text(old)}), tmp_path), 1)
    assert key_fingerprint(old) in refused and key_fingerprint(new) in refused

    with serving(["serve"], env, tmp_path, port) as base:
        assert httpx.get(f"{base}/jwks.json").json() == jwks
        assert client_credentials(base).status_code == 200
        assert run_coroutine(_verify(base, before)) == "svc"


@pytest.mark.postgres
def test_rotate_with_the_key_in_the_environment(fresh_postgres_url: str, tmp_path: Path) -> None:
    """With ``PIXIE_SECRET_KEY`` there is no file to replace: the new key comes from standard input or from
    ``--new-secret-file`` (created when missing), and the operator sets ``PIXIE_SECRET_KEY`` to it."""
    url = fresh_postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    env = bare_env(url, {"PIXIE_SECRET_KEY": key_text(old)})
    create_service_client(env, tmp_path)
    webhook_secret = _add_webhook(env, tmp_path)

    line = one_line_error(pixie(["secret", "rotate"], env, tmp_path), 2)
    assert "--new-secret-file" in line and "--new-secret-stdin" in line
    rotated = pixie(["secret", "rotate", "--new-secret-stdin"], env, tmp_path, stdin=key_text(new) + "\n")
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["fingerprint"] == key_fingerprint(new)
    assert "PIXIE_SECRET_KEY" in rotated.stderr

    one_line_error(pixie(["keys", "list"], env, tmp_path), 1)
    env = bare_env(url, {"PIXIE_SECRET_KEY": key_text(new)})
    assert pixie(["keys", "list"], env, tmp_path).returncode == 0
    assert run_coroutine(_webhook_secret(url, new)) == webhook_secret

    generated = tmp_path / "next.secret"
    again = pixie(["secret", "rotate", "--new-secret-file", str(generated)], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert generated.stat().st_mode & 0o777 == 0o600
    newest = _read_key(generated)
    assert json.loads(again.stdout)["fingerprint"] == key_fingerprint(newest)
    listed = pixie(["keys", "list"], bare_env(url, {"PIXIE_SECRET_KEY": key_text(newest)}), tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert run_coroutine(_fingerprints(url)) == {key_fingerprint(newest): 2}


def test_an_interrupted_rotation_is_finished_by_running_it_again(tmp_path: Path) -> None:
    """The state a rotation interrupted after its key transaction leaves (new key in ``pixie.secret.new``, signing
    keys sealed under it, webhook secrets not yet): a server refuses to start and says how to finish; running the
    command again does."""
    url = f"sqlite:///{tmp_path / 'pixie.db'}"
    env = bare_env(url)
    create_service_client(env, tmp_path)
    webhook_secret = _add_webhook(env, tmp_path)
    key_file, staged = tmp_path / "pixie.secret", tmp_path / "pixie.secret.new"
    old, new = _read_key(key_file), secrets.token_bytes(32)
    staged.write_text(key_text(new) + "\n")
    staged.chmod(0o600)
    run_coroutine(_reseal_signing_keys(url, old, new))

    line = one_line_error(pixie(["serve", "--port", str(free_port())], env, tmp_path, timeout=30), 1)
    assert key_fingerprint(old) in line and key_fingerprint(new) in line
    assert f"{staged} holds that key" in line and "run it again" in line

    finished = pixie(["secret", "rotate"], env, tmp_path)
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["signing_keys"] == 0  # already sealed under the new key
    assert json.loads(finished.stdout)["webhook_secrets"] == 1
    assert _read_key(key_file) == new and _read_key(tmp_path / "pixie.secret.old") == old and not staged.exists()
    assert run_coroutine(_webhook_secret(url, new)) == webhook_secret
    with serving(["serve"], env, tmp_path, free_port()) as base:
        assert client_credentials(base).status_code == 200


def test_rotate_changes_nothing_when_a_key_opens_with_neither(tmp_path: Path) -> None:
    """Everything is opened before anything is written: a signing key that the current key cannot open stops the
    rotation in one line, with no new key file and the database as it was."""
    url = f"sqlite:///{tmp_path / 'pixie.db'}"
    sealing = secrets.token_bytes(32)
    create_service_client(bare_env(url, {"PIXIE_SECRET_KEY": key_text(sealing)}), tmp_path)
    key_file = tmp_path / "wrong.secret"
    key_file.write_text(key_text(secrets.token_bytes(32)) + "\n")
    key_file.chmod(0o600)

    line = one_line_error(pixie(["secret", "rotate", "--secret-file", str(key_file)], bare_env(url), tmp_path), 1)
    assert "nothing was changed" in line and key_fingerprint(sealing) in line
    assert sorted(path.name for path in tmp_path.iterdir() if "secret" in path.name) == ["wrong.secret"]
    assert run_coroutine(_fingerprints(url)) == {key_fingerprint(sealing): 2}


def test_secret_rotate_is_documented() -> None:
    """``pixie secret rotate --help`` says what it does and what to do first."""
    done = pixie(["secret", "rotate", "--help"], bare_env("sqlite:///unused.db"), Path())
    assert done.returncode == 0, done.stderr
    assert "Re-seal" in done.stdout and "stop the servers first" in done.stdout
