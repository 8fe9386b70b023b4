"""The comparison peers of ``bench/compare.py``, set up from a clone alone: node-oidc-provider (``node-oidc/``) and
Authlib (``authlib/``), and ``bench/.venv``, the Python that runs both the Authlib peer and the load generator.

Installed on first use, into git-ignored folders, from the public registries: ``bench/.venv`` from
``bench/requirements.txt`` (PyPI) and ``node-oidc/node_modules`` from its ``package-lock.json`` (npm). Each
install is stamped with the hash of the file it came from, so an edited pin installs again and an unchanged one
costs nothing. Needs ``node`` (20 or later) and ``npm`` on the PATH.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
VENV = BENCH / ".venv"
PYTHON = VENV / "bin" / "python"
LOADGEN = BENCH / "loadgen.py"
NODE = HERE / "node-oidc"
AUTHLIB = HERE / "authlib"
NODE_ISSUER = "http://127.0.0.1:3001"
AUTHLIB_ISSUER = "http://127.0.0.1:3002"


def ensure_installed(*, node: bool = True) -> None:
    """``bench/.venv`` (always: the load generator runs on it) and, with ``node``, node-oidc-provider."""
    _install(
        VENV / ".installed",
        BENCH / "requirements.txt",
        [
            [sys.executable, "-m", "venv", "--clear", str(VENV)],
            [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", "requirements.txt"],
        ],
        cwd=BENCH,
    )
    if node:
        if shutil.which("npm") is None:
            raise SystemExit("the node-oidc-provider peer needs node (20 or later) and npm on the PATH")
        command = ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"]
        _install(NODE / "node_modules" / ".installed", NODE / "package-lock.json", [command], cwd=NODE)


def _install(stamp: Path, source: Path, commands: list[list[str]], *, cwd: Path) -> None:
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest:
        return
    print(f"installing {stamp.parent.relative_to(BENCH)} from {source.relative_to(BENCH)}", file=sys.stderr)
    for command in commands:
        subprocess.run(command, cwd=cwd, check=True)
    stamp.write_text(digest + "\n")


def start_node(pin: list[str], log: Path) -> subprocess.Popen[bytes]:
    """node-oidc-provider on :data:`NODE_ISSUER` (all state in memory: a fresh start is a fresh server)."""
    port = NODE_ISSUER.rsplit(":", 1)[1]
    with log.open("wb") as out:
        return subprocess.Popen(
            [*pin, "node", "server.mjs"], cwd=NODE, env={**os.environ, "PORT": port}, stdout=out, stderr=out
        )


def start_authlib(pin: list[str], state: Path, log: Path) -> subprocess.Popen[bytes]:
    """The Authlib peer on :data:`AUTHLIB_ISSUER`, its SQLite file and key in ``state`` (created and seeded here),
    served as Flask apps usually are in production: gunicorn, two worker processes of four threads each."""
    env = {**os.environ, "PEER_STATE": str(state), "PEER_ISSUER": AUTHLIB_ISSUER}
    subprocess.run([str(PYTHON), "server.py", "init"], cwd=AUTHLIB, env=env, check=True, capture_output=True)
    bind = AUTHLIB_ISSUER.removeprefix("http://")
    gunicorn = [str(VENV / "bin" / "gunicorn"), "-b", bind, "-w", "2", "-k", "gthread", "--threads", "4"]
    with log.open("wb") as out:
        return subprocess.Popen(
            [*pin, *gunicorn, "--log-level", "warning", "server:app"], cwd=AUTHLIB, env=env, stdout=out, stderr=out
        )
