"""A server that cannot start says why in one line, before any banner (ARCHITECTURE §4: ``pixie: error: …``, exit 1,
no traceback, no exception class names, no framework output before a failure to start)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from livesupport import free_port
from masterkey.support import bare_env, key_text, one_line_error, pixie

REPO = Path(__file__).resolve().parents[2]
KEY = {"PIXIE_SECRET_KEY": key_text(b"k" * 32)}


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize(
    "command", [["serve"], ["demo"], ["serve", "--workers", "2"]], ids=["serve", "demo", "serve-workers"]
)
def test_a_port_in_use_is_one_line_before_anything_else(tmp_path: Path, taken_port: int, command: list[str]) -> None:
    """Nothing is printed, migrated or written before the address is ours: no banner, no database, no key file."""
    env = bare_env(f"sqlite:///{tmp_path / 'pixie.db'}")
    line = one_line_error(pixie([*command, "--port", str(taken_port)], env, tmp_path, timeout=30), 1)
    assert line == f"pixie: error: cannot listen on 127.0.0.1:{taken_port}: address already in use (use --port)"
    assert list(tmp_path.iterdir()) == []


def test_make_run_on_a_port_in_use(tmp_path: Path, taken_port: int) -> None:
    """``make run PORT=…`` passes the port to ``pixie demo``; on a port in use the demo's one line is all it prints
    (make then reports the failed recipe)."""
    env = bare_env(f"sqlite:///{tmp_path / 'pixie.db'}")
    # -o: never remake the virtualenv from here (the test runs inside it). A session of its own, so that a demo
    # that did start (on another port) is stopped with make.
    make = ["make", "--no-print-directory", "-o", ".venv/.installed-run", "run", f"PORT={taken_port}"]
    with subprocess.Popen(
        make, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.communicate()
    done = subprocess.CompletedProcess(make, process.returncode, stdout, stderr)
    assert done.returncode != 0
    expected = f"pixie: error: cannot listen on 127.0.0.1:{taken_port}: address already in use (use --port)"
    pixie_lines = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert pixie_lines == [expected], done.stderr
    assert "Pixie demo" not in done.stdout and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_make_run_passes_no_port_unless_asked() -> None:
    """``make run`` itself is unchanged: ``pixie demo`` on its default port."""
    env = {k: v for k, v in os.environ.items() if k != "PORT"}
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", ".venv/.installed-run", "run"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert dry.stdout.split() == [".venv/bin/pixie", "demo"]


@pytest.mark.parametrize("command", [["keys", "list"], ["serve"], ["demo"]], ids=["keys-list", "serve", "demo"])
def test_an_unsupported_database_url_is_one_line(tmp_path: Path, command: list[str]) -> None:
    """A URL of another kind is a usage error (exit 2) that names the scheme only: no exception class, no
    password."""
    url = "mysql://app:hunter2@db.example/pixie"
    args = [*command, "--port", str(free_port())] if command[0] != "keys" else command
    line = one_line_error(pixie([*args, "--database", url], bare_env(url, KEY), tmp_path, timeout=30), 2)
    assert "'mysql'" in line and "sqlite:///" in line
    assert "Error:" not in line.removeprefix("pixie: error:") and "hunter2" not in line


@pytest.mark.parametrize("command", [["keys", "list"], ["serve"]], ids=["keys-list", "serve"])
def test_an_unreachable_database_is_shown_as_typed(tmp_path: Path, command: list[str]) -> None:
    """The URL as the user wrote it (not the async driver's form), the password masked."""
    closed = free_port()
    url = f"postgresql://postgres:hunter2@127.0.0.1:{closed}/test"
    args = [*command, "--port", str(free_port())] if command[0] == "serve" else command
    line = one_line_error(pixie(args, bare_env(url, KEY), tmp_path, timeout=30), 1)
    assert f"cannot use the database at postgresql://postgres:***@127.0.0.1:{closed}/test: " in line
    assert "hunter2" not in line and "asyncpg" not in line
