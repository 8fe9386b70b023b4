"""ARCHITECTURE §6.6: codes, refresh tokens, session ids, CSRF tokens and client secrets are stored only as SHA-256
hashes; passwords as Argon2id; signing keys encrypted at rest; secrets compared in constant time.

Each storage check reads the SQLite file's bytes (main file and write-ahead log) and asserts the plaintext is absent
*and* its hash present — the positive control proves the bytes searched are the right ones.

Spec: RFC 6749 §10.3, §10.5 (codes and tokens kept confidential), RFC 9700 §4.14.2 (refresh tokens), RFC 9106
(Argon2id), RFC 6749 §2.3.1 (client passwords).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from spec.support import (
    PASSWORDS,
    WEB_SECRET,
    Browser,
    Pixie,
    Pkce,
    authorize_pairs,
    hidden_fields,
    sha256_hex,
    token_request,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "pixie"


def _assert_only_hash_stored(pixie: Pixie, secret: str) -> None:
    data = pixie.db_bytes()
    assert sha256_hex(secret).encode() in data, "positive control: the SHA-256 should be stored"
    assert secret.encode() not in data, "the plaintext secret is stored"


def test_refresh_token_stored_hashed(pixie: Pixie, alice: Browser, http: httpx.Client) -> None:
    """ARCHITECTURE §6.6 / RFC 9700 §4.14.2: refresh tokens only as SHA-256."""
    proof = Pkce.new()
    body = token_request(http, alice.code(authorize_pairs(challenge=proof.challenge)), proof.verifier).json()
    _assert_only_hash_stored(pixie, body["refresh_token"])
    assert body["access_token"].encode() not in pixie.db_bytes(), "access tokens need not be stored at all"


def test_client_secret_stored_hashed(pixie: Pixie) -> None:
    """ARCHITECTURE §6.6: client secrets only as SHA-256."""
    _assert_only_hash_stored(pixie, WEB_SECRET)
    assert pixie.query("SELECT secret_hash FROM clients WHERE client_id = 'web'") == [(sha256_hex(WEB_SECRET),)]


def test_csrf_token_stored_hashed(pixie: Pixie, browser: Browser) -> None:
    """Issue 3 item 2: the CSRF token of a pending request is stored only as its hash."""
    token = hidden_fields(browser.login_page(authorize_pairs()).text)["csrf_token"]
    _assert_only_hash_stored(pixie, token)


def test_passwords_are_argon2id(pixie: Pixie) -> None:
    """ARCHITECTURE §6.6 / issue 3 item 2: passwords as Argon2id (RFC 9106), never in plaintext."""
    hashes = dict(pixie.query("SELECT username, password_hash FROM users"))
    assert set(PASSWORDS) <= set(hashes)
    data = pixie.db_bytes()
    for username, password in PASSWORDS.items():
        assert hashes[username].startswith("$argon2id$"), username
        assert password.encode() not in data


def test_signing_keys_encrypted_at_rest(pixie: Pixie) -> None:
    """Issue 3 item 6 / ARCHITECTURE §6.6: private signing keys are stored encrypted, never as a loadable key."""
    rows = pixie.query("SELECT kid, private_key_encrypted FROM signing_keys")
    assert rows
    assert b"PRIVATE KEY" not in pixie.db_bytes()
    for kid, blob in rows:
        assert b"-----BEGIN" not in blob, kid
        with pytest.raises((ValueError, TypeError)):
            serialization.load_der_private_key(blob, password=None)


# Identifiers that hold secrets (or their digests). Comparing them with == / != leaks, through timing, how much of a
# guess was right; pixie.security.constant_time_equals must be used instead.
_SECRET_NAME = re.compile(r"(secret|csrf|verifier|password|digest|cookie|_hash$|^code$|challenge$)", re.IGNORECASE)


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _name(node.func)
    return None


def _secret_comparisons(source: str, label: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename=label)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            if not isinstance(op, ast.Eq | ast.NotEq):
                continue
            if isinstance(left, ast.Constant) or isinstance(right, ast.Constant):
                continue  # comparing with a literal ("", None, a method name) leaks nothing secret
            names = [n for n in (_name(left), _name(right)) if n]
            if any(_SECRET_NAME.search(n) for n in names):
                found.append(f"{label}:{node.lineno}: {ast.unparse(node)}")
    return found


def _python_files() -> list[Path]:
    # storage/sql builds SQL expressions (``column == value``): lookups by digest, not comparisons in Python.
    return [p for p in sorted(SRC.rglob("*.py")) if "storage/sql" not in p.as_posix()]


def test_secrets_compared_in_constant_time() -> None:
    """ARCHITECTURE §6.6: every comparison of secrets is constant-time: no ``==`` / ``!=`` between values named as
    secrets, verifiers, challenges, CSRF tokens, cookies or hashes anywhere in the package (static check)."""
    files = _python_files()
    assert len(files) > 20, "the check must see the package"
    found = [hit for path in files for hit in _secret_comparisons(path.read_text(), str(path.relative_to(SRC)))]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        pytest.param("ok = client.secret_hash == hash_secret(secret)", True, id="hash-eq"),
        pytest.param("ok = verifier != expected", True, id="verifier-ne"),
        pytest.param("ok = form.get('csrf_token') == cookie", True, id="csrf-eq"),
        pytest.param("ok = constant_time_equals(cookie, token)", False, id="constant-time"),
        pytest.param("ok = method == 'S256'", False, id="literal"),
        pytest.param("ok = record.client_id != client.client_id", False, id="not-a-secret"),
    ],
)
def test_the_constant_time_check_itself(source: str, flagged: bool) -> None:
    """Guard the guard: the static check flags plain comparisons of secrets, and only those."""
    assert bool(_secret_comparisons(source, "sample")) is flagged
