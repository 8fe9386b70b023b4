"""Token persistence: the file store is created 0600 whatever the umask, replaced atomically, bound to its
session, and refuses a file others can read (issue 5, item 5: "a CLI stays signed in across runs")."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixie.client import FileTokenStore, MemoryTokenStore, TokenSet

TOKENS = TokenSet(
    access_token="access-secret",
    token_type="Bearer",
    expires_at=time.time() + 300,
    refresh_token="refresh-secret",
    scope="a b",
    issued_at=time.time(),
    raw={"access_token": "access-secret", "token_type": "Bearer", "expires_in": 300, "id_token": "x"},
)


@pytest.fixture(params=[0o000, 0o022, 0o077], ids=["umask-000", "umask-022", "umask-077"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_file_is_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "config" / "pixie" / "tokens.json"
    FileTokenStore(path).save(TOKENS)
    assert _mode(path) == 0o600
    assert _mode(path.parent) & 0o077 == 0  # the directory we created is private too
    FileTokenStore(path).save(TOKENS)  # and stays 0600 when replaced
    assert _mode(path) == 0o600


def test_round_trip_and_atomic_replacement(tmp_path: Path) -> None:
    """A save writes a new file and renames it over the old one (new inode, no temporary left behind), so a
    reader sees the old tokens or the new ones, never a partial file."""
    path = tmp_path / "tokens.json"
    store = FileTokenStore(path)
    assert store.load() is None
    store.save(TOKENS)
    first_inode = path.stat().st_ino
    assert store.load() == TOKENS
    newer = TokenSet("access-2", "Bearer", expires_at=None, refresh_token="refresh-2", issued_at=1.0)
    store.save(newer)
    assert path.stat().st_ino != first_inode
    assert FileTokenStore(path).load() == newer
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.json"]
    store.clear()
    assert store.load() is None and not path.exists()
    store.clear()  # clearing twice is fine


def test_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    """Like ssh with a private key: tokens that others could have read are not used."""
    path = tmp_path / "tokens.json"
    FileTokenStore(path).save(TOKENS)
    path.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        FileTokenStore(path).load()


def test_binding_separates_sessions(tmp_path: Path) -> None:
    """Tokens saved for one issuer/client/scope are not handed to another."""
    path = tmp_path / "tokens.json"
    FileTokenStore(path, binding="https://a.example cli read").save(TOKENS)
    assert FileTokenStore(path, binding="https://b.example cli read").load() is None
    assert FileTokenStore(path, binding="https://a.example cli read").load() == TOKENS


@pytest.mark.parametrize("content", ["", "{not json", "[]", '{"binding": null, "tokens": {"token_type": "x"}}'])
def test_damaged_file_reads_as_signed_out(tmp_path: Path, content: str) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(content)
    path.chmod(0o600)
    assert FileTokenStore(path).load() is None


def test_memory_store() -> None:
    store = MemoryTokenStore()
    assert store.load() is None
    store.save(TOKENS)
    assert store.load() is TOKENS
    store.clear()
    assert store.load() is None
