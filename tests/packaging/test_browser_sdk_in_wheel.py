"""A wheel built from a clone carries the browser package's modules for ``pixie demo``: ``src/pixie/demo/static/sdk``
is a link to ``js/browser/src`` (one copy in the repository), and the wheel holds the files themselves, byte for byte,
so an installed Pixie serves them without Node and without the source tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "js" / "browser" / "src"


def test_the_demo_links_the_package() -> None:
    link = ROOT / "src" / "pixie" / "demo" / "static" / "sdk"
    assert link.is_symlink() and link.resolve() == PACKAGE.resolve()


def test_the_wheel_holds_the_packages_modules(tmp_path: Path) -> None:
    source = tmp_path / "clone"  # a clone's layout, the link kept as a link (setuptools writes build/ beside it)
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", source / "src", symlinks=True, ignore=ignore)
    shutil.copytree(PACKAGE, source / "js" / "browser" / "src")
    assert (source / "src" / "pixie" / "demo" / "static" / "sdk").is_symlink()
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", "wheel", "--no-deps"]
    done = subprocess.run(
        [*command, "--wheel-dir", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("pixie_oauth-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {
            Path(name).name: archive.read(name)
            for name in archive.namelist()
            if name.startswith("pixie/demo/static/sdk/")
        }
    expected = {path.name: path.read_bytes() for path in PACKAGE.glob("*.js")}
    assert expected and shipped == expected
