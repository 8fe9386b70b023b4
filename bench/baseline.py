"""Pixie as built from an earlier git revision, for ``bench/compare.py --baseline REF``: before and after in one run.

The revision's tree is exported with ``git archive`` into ``bench/.baseline/<sha>/src`` (git-ignored) and installed
there, editable as ``make`` installs the current tree and pinned by that revision's own ``constraints.txt``, into a
venv of its own beside it. Both are kept: a later run against the same revision starts at once. Delete
``bench/.baseline/`` to reclaim the space.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "bench" / ".baseline"


def resolve(ref: str) -> str:
    """The full commit id that ``ref`` names in this repository."""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=ROOT, capture_output=True, text=True
    )
    if found.returncode != 0:
        raise SystemExit(f"--baseline: {ref!r} names no commit here")
    return found.stdout.strip()


def install(sha: str) -> Path:
    """The ``pixie`` executable of commit ``sha``, installed on first use."""
    home = HOME / sha
    pixie = home / ".venv" / "bin" / "pixie"
    if (home / ".installed").exists():
        return pixie
    print(f"installing Pixie {sha[:10]} into {home.relative_to(ROOT)}", file=sys.stderr)
    shutil.rmtree(home, ignore_errors=True)
    src = home / "src"
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "--format=tar", sha], cwd=ROOT, capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(src, filter="data")
    subprocess.run([sys.executable, "-m", "venv", str(home / ".venv")], check=True)
    pins = ["-c", "constraints.txt"] if (src / "constraints.txt").exists() else []
    pip = [str(home / ".venv" / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # Since the server moved to an extra, a revision that has one needs it (``pixie serve`` and the CLI live there).
    has_server_extra = re.search(r"^server = \[", (src / "pyproject.toml").read_text(), re.MULTILINE) is not None
    subprocess.run([*pip, *pins, "-e", ".[server]" if has_server_extra else "."], cwd=src, check=True)
    if not pixie.exists():
        raise SystemExit(f"--baseline: commit {sha[:10]} installed no pixie command")
    (home / ".installed").touch()
    return pixie
