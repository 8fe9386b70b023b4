"""The newest schema revision shipped in ``migrations/versions``, read from the revision files' own
``revision`` / ``down_revision`` lines without importing Alembic, so that opening a database that is already current
costs one query (``tests/storage/test_migrations.py`` holds this to Alembic's own reading)."""

from __future__ import annotations

import functools
import re
from importlib.resources import files

__all__ = ["head_revision"]

_REVISION = re.compile(r"""^revision(?:\s*:\s*str)?\s*=\s*["']([^"']+)["']""", re.MULTILINE)
_DOWN = re.compile(r"""^down_revision(?:\s*:[^=]+)?=\s*["']([^"']+)["']""", re.MULTILINE)


@functools.cache
def head_revision() -> str | None:
    """The one revision no other revision follows; None when the files do not say plainly (a merge, a branch,
    or a form these patterns do not read): callers then ask Alembic."""
    revisions: set[str] = set()
    followed: set[str] = set()
    for entry in files("pixie.storage.schema").joinpath("migrations", "versions").iterdir():
        if not entry.name.endswith(".py") or entry.name.startswith("_"):
            continue
        text = entry.read_text(encoding="utf-8")
        found = _REVISION.findall(text)
        if len(found) != 1:
            return None
        revisions.add(found[0])
        followed.update(_DOWN.findall(text))
    heads = revisions - followed
    return heads.pop() if len(heads) == 1 else None
