"""Helpers of the master-key suite: ``pixie`` run as a user runs it, from a working directory of the test's choice
and with no master key in the environment unless the test gives one."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from livesupport import PIXIE, pixie_process

CLIENT_SECRET = "masterkey-suite-client-secret-0000000000"


def key_text(key: bytes) -> str:
    """A master key as ``PIXIE_SECRET_KEY`` and key files hold it."""
    return base64.urlsafe_b64encode(key).decode("ascii")


def bare_env(database_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment without any ``PIXIE_`` setting but the database (and ``extra``): no key, no key file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXIE_")}
    env.update({"PIXIE_DATABASE_URL": database_url, "PIXIE_AUDIT_LOG": "off"})
    env.update(extra or {})
    return env


def pixie(
    args: list[str], env: Mapping[str, str], cwd: Path, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    command = [PIXIE, *args]
    return subprocess.run(
        command, cwd=cwd, input=stdin, capture_output=True, text=True, env=dict(env), timeout=timeout, check=False
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The single ``pixie: error:`` line of a failed command (ARCHITECTURE §4), after checking the exit code and
    that nothing else was printed."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pixie: error: "), result.stderr
    assert "Traceback" not in result.stderr and not result.stdout.strip(), (result.stdout, result.stderr)
    return lines[0]


@contextmanager
def serving(args: list[str], env: Mapping[str, str], cwd: Path, port: int) -> Iterator[str]:
    """Run a long-running ``pixie`` command (``serve``, ``demo``) from ``cwd`` until it answers; yield its URL."""
    base = f"http://127.0.0.1:{port}"
    with pixie_process([*args, "--port", str(port)], env, f"{base}/healthz", cwd=cwd):
        yield base


def client_credentials(base: str) -> httpx.Response:
    """A token request of the suite's confidential client (``svc``, see :func:`create_service_client`)."""
    return httpx.post(f"{base}/token", data={"grant_type": "client_credentials"}, auth=("svc", CLIENT_SECRET))


def create_service_client(env: Mapping[str, str], cwd: Path) -> None:
    done = pixie(
        ["clients", "create", "svc", "--secret", CLIENT_SECRET, "--grant-type", "client_credentials"], env, cwd
    )
    assert done.returncode == 0, done.stderr
