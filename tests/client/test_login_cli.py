"""``pixie login`` as a user runs it: a real subprocess against the real Pixie server, the browser played by a
form-posting HTTP client; the session kept in a 0600 file and reused on the next run (issue 5, items 5 and 7;
ARCHITECTURE §4 exit codes)."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from client.support import FULL_SCOPE, LoginProcess, family, follow_to_callback
from livesupport import cli_env, free_port, run_pixie
from pixie.client import FileTokenStore, TokenSet
from spec.support import Browser, Pixie


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")


def _args(pixie: Pixie, client_id: str, token_file: Path, timeout: float = 30) -> list[str]:
    return [
        "--issuer", pixie.issuer, "--client-id", client_id, "--scope", FULL_SCOPE, "--no-browser",
        "--timeout", str(timeout), "--token-file", str(token_file),
    ]  # fmt: skip


def _sign_in(pixie: Pixie, alice: Browser, env: dict[str, str], args: list[str]) -> dict[str, Any]:
    """Run ``pixie login``; sign in through the URL it prints; return the token response it prints."""
    process = LoginProcess(args, env)
    callback = follow_to_callback(alice, process.authorization_url())
    page = alice.http.get(callback)
    assert page.status_code == 200 and "You can close this window" in page.text
    code, stdout, stderr = process.finish()
    assert code == 0, stderr
    assert "Open this URL in a browser to sign in" in stderr
    printed: dict[str, Any] = json.loads(stdout)
    return printed


def _assert_one_line_error(code: int, stderr: str, expected_code: int = 1) -> str:
    assert code == expected_code, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith(("pixie: error:", "Error:"))]
    assert len(errors) == 1, stderr
    return errors[0]


def test_login_prints_tokens_and_stays_signed_in(
    pixie: Pixie, alice: Browser, env: dict[str, str], tmp_path: Path
) -> None:
    """First run: browser sign-in, token response on stdout, session saved 0600. Second run: the saved session is
    printed at once, no browser, no new sign-in."""
    token_file = tmp_path / "state" / "tokens.json"
    first = _sign_in(pixie, alice, env, _args(pixie, "cli", token_file))
    assert first["token_type"] == "Bearer" and first["scope"] == FULL_SCOPE
    assert first["refresh_token"] and 0 < first["expires_in"] <= 3600
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    again = run_pixie(["login", *_args(pixie, "cli", token_file, timeout=3)], env)
    assert again.returncode == 0, again.stderr
    assert "Open this URL" not in again.stderr
    second = json.loads(again.stdout)
    assert (second["access_token"], second["refresh_token"]) == (first["access_token"], first["refresh_token"])


def test_expiring_session_is_refreshed_on_the_next_run(
    pixie: Pixie, alice: Browser, env: dict[str, str], tmp_path: Path
) -> None:
    """With 3-second access tokens the second run refreshes: new access token, rotated refresh token saved, one
    refresh in the family and the family alive (RFC 6749 §6)."""
    token_file = tmp_path / "tokens.json"
    first = _sign_in(pixie, alice, env, _args(pixie, "short", token_file))
    time.sleep(1.6)  # past half of the 3-second lifetime: due for refresh
    again = run_pixie(["login", *_args(pixie, "short", token_file, timeout=3)], env)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    saved = FileTokenStore(token_file, binding=f"{pixie.issuer} short {FULL_SCOPE}").load()
    assert saved is not None and saved.refresh_token == second["refresh_token"]
    assert family(pixie, first["refresh_token"]) == (2, None)


def test_dead_session_falls_back_to_the_browser(pixie: Pixie, env: dict[str, str], tmp_path: Path) -> None:
    """A refresh token the server refuses (``invalid_grant``) is dropped and the browser sign-in starts; nobody
    finishes it here, so the command times out with one line and exit code 1."""
    token_file = tmp_path / "tokens.json"
    dead = TokenSet("at", "Bearer", expires_at=time.time() - 10, refresh_token="not-a-live-token", issued_at=0.0)
    FileTokenStore(token_file, binding=f"{pixie.issuer} cli {FULL_SCOPE}").save(dead)
    result = run_pixie(["login", *_args(pixie, "cli", token_file, timeout=1)], env)
    line = _assert_one_line_error(result.returncode, result.stderr)
    assert "no sign-in came back" in line and "within 1 seconds" in line
    assert "Open this URL" in result.stderr
    assert not token_file.exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--client-id", "cli"], "--issuer"),
        (["--issuer", "http://as.example", "--client-id", "cli"], "https"),
        (["--issuer", "http://127.0.0.1:1", "--client-id", "cli", "--timeout", "0"], "--timeout"),
    ],
    ids=["no-issuer", "cleartext-issuer", "zero-timeout"],
)
def test_usage_errors_exit_2(env: dict[str, str], args: list[str], fragment: str) -> None:
    result = run_pixie(["login", *args], env)
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr and "Traceback" not in result.stderr


def test_unreachable_issuer_is_one_line(env: dict[str, str]) -> None:
    issuer = f"http://127.0.0.1:{free_port()}"
    result = run_pixie(["login", "--issuer", issuer, "--client-id", "cli", "--no-browser"], env)
    line = _assert_one_line_error(result.returncode, result.stderr)
    assert f"cannot reach {issuer}" in line


def test_login_with_dpop_and_par_keeps_the_key_with_the_session(
    pixie: Pixie, alice: Browser, env: dict[str, str], tmp_path: Path
) -> None:
    """``--dpop --par``: the request is pushed, the tokens are DPoP-bound, the key is saved with them (never
    printed), and the next run refreshes them with that key (RFC 9449 §5, RFC 9126)."""
    token_file = tmp_path / "tokens.json"
    process = LoginProcess([*_args(pixie, "short", token_file), "--dpop", "--par"], env)
    url = process.authorization_url()
    assert "request_uri=urn" in url and "code_challenge" not in url
    assert alice.http.get(follow_to_callback(alice, url)).status_code == 200  # back to the command's loopback
    code, stdout, stderr = process.finish()
    assert code == 0, stderr
    first = json.loads(stdout)
    assert first["token_type"] == "DPoP" and len(first["dpop_jkt"]) == 43
    assert '"d"' not in stdout
    saved = json.loads(token_file.read_text())["tokens"]
    assert saved["dpop_key"]["d"]
    time.sleep(1.6)
    again = run_pixie(["login", *_args(pixie, "short", token_file, timeout=3), "--dpop"], env)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["token_type"] == "DPoP" and second["dpop_jkt"] == first["dpop_jkt"]
    assert second["access_token"] != first["access_token"]
