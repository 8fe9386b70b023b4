"""The README's React example builds: its ``jsx`` block (under "Use it from the browser and React"), with React's own
imports added, is bundled by esbuild against the packages installed from their tarballs, so every name it uses
exists and its JSX is valid. (Running it is what ``test_react_app.py`` does with the same calls.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = Path(__file__).resolve().parent / "app"
REACT_IMPORTS = 'import { StrictMode, useState } from "react";\nimport { createRoot } from "react-dom/client";\n'


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Use it from the browser and React") :]
    match = re.search(r"^```jsx\n(.*?)^```$", section, re.S | re.M)
    assert match is not None, "the README's browser section has no jsx block"
    return match.group(1)


def test_the_readme_react_example_bundles(tmp_path: Path) -> None:
    example = readme_example()
    assert "usePixieAuth()" in example and "<PixieProvider" in example
    assert len([line for line in example.splitlines() if line.strip()]) <= 14  # a short example stays short
    source = APP / "src" / ".readme-example.jsx"  # beside the app, so its node_modules resolve the imports
    source.write_text(REACT_IMPORTS + example)
    try:
        done = subprocess.run(
            [
                str(APP / "node_modules" / ".bin" / "esbuild"),
                str(source),
                "--bundle",
                "--format=esm",
                "--jsx=automatic",
                "--log-level=error",
                f"--outfile={tmp_path / 'example.js'}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        source.unlink()
    assert done.returncode == 0, done.stderr
    bundle = (tmp_path / "example.js").read_text()
    assert "pixie-pkce:flow:" in bundle  # @pixie-oauth/browser itself is in the bundle, from the tarball
