"""Every code block of README.md runs as written, against a real ``pixie demo``.

The blocks run in README order in one working directory where ``pixie demo`` serves (so ``.venv/bin/pixie``
commands reach the demo's database, as for a reader who ran ``make run``). Two things are adapted, nothing else:
the demo's address (``http://127.0.0.1:8000`` → the free port the demo got) and ``.venv/bin/`` (→ this
interpreter's). ``sh`` blocks run under ``bash -euo pipefail``; ``python`` blocks under this interpreter. A
``client_secret`` that a ``pixie clients create NAME`` prints is what the reader copies: later blocks get it as
``NAME_SECRET`` in their environment. When a block prints a sign-in URL (``login_with_browser``), headless Chromium
signs in as the demo's alice and approves consent, as the reader would in their browser.

A block is skipped only when the line before it says ``<!-- no-run: reason -->``; ``<!-- run: pytest, … -->`` runs
a block as a test file beside ``examples/fastapi_api/items_api.py``. The markers are checked too: every skipped
block gives its reason, and at most a few are skipped.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, expect

from livesupport import free_port, pixie_process
from pixie.demo.config import USERS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
MAX_NOT_RUN = 6  # the sixth: the React example (JSX), bundled by tests/browser_sdk/test_readme_example.py
_FENCE = re.compile(r"^```(\S*)(.*)$")
_MARKER = re.compile(r"^<!--\s*(no-run|run):\s*(.*?)\s*-->$")
_AUTHORIZE_URL = re.compile(r"(http://127\.0\.0\.1:\d+/authorize\?\S+)")


@dataclass(frozen=True)
class Block:
    line: int
    language: str
    code: str
    marker: tuple[str, str] | None

    @property
    def runs(self) -> bool:
        return self.marker is None or self.marker[0] == "run"


def readme_blocks() -> list[Block]:
    lines = README.read_text().splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        start = index
        end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
        before = lines[start - 1].strip() if start > 0 else ""
        marker = _MARKER.match(before)
        blocks.append(
            Block(
                line=start + 1,
                language=fence.group(1),
                code="\n".join(lines[start + 1 : end]) + "\n",
                marker=(marker.group(1), marker.group(2)) if marker else None,
            )
        )
        index = end + 1
    return blocks


def test_blocks_are_marked_sparingly_and_with_reasons() -> None:
    """Each block names its language; runnable ones are ``sh`` or ``python``; a skipped block says why, and no more
    than a few are skipped (a README whose examples are mostly "not meant to run" would pass this suite vacuously)."""
    blocks = readme_blocks()
    assert len(blocks) >= 10
    for block in blocks:
        assert block.language, f"README.md:{block.line}: say the block's language (```sh, ```python, ...)"
        if block.runs:
            assert block.language in ("sh", "python"), f"README.md:{block.line}: cannot run {block.language!r}"
        else:
            assert block.marker is not None and len(block.marker[1]) >= 20, f"README.md:{block.line}: give a reason"
        if block.marker is not None and block.marker[0] == "run":
            assert block.marker[1].startswith("pytest"), f"README.md:{block.line}: unknown runner {block.marker[1]}"
    skipped = [b.line for b in blocks if not b.runs]
    assert len(skipped) <= MAX_NOT_RUN, f"too many blocks are marked no-run: lines {skipped}"
    assert len(skipped) * 2 < len(blocks)


def _secrets(output: str) -> dict[str, str]:
    """``NAME_SECRET`` for every client JSON document with a ``client_secret`` in ``output``."""
    found: dict[str, str] = {}
    decoder = json.JSONDecoder()
    position = output.find("{")
    while position != -1:
        try:
            document, end = decoder.raw_decode(output, position)
        except json.JSONDecodeError:
            position = output.find("{", position + 1)
            continue
        if isinstance(document, dict) and document.get("client_secret"):
            name = re.sub(r"[^A-Za-z0-9]+", "_", str(document["client_id"])).upper().strip("_")
            found[f"{name}_SECRET"] = str(document["client_secret"])
        position = output.find("{", end)
    return found


def _sign_in_in_the_browser(browser: Browser, url: str) -> None:
    """What the reader does in the browser ``login_with_browser`` opened: sign in as alice and allow."""
    alice = next(user for user in USERS if user.username == "alice")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        page.fill("#username", alice.username)
        page.fill("#password", alice.password)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/consent\?|/callback\?"))
        if "/consent" in page.url:
            page.click("button[value=approve]")
        page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/callback\?"))
        expect(page.locator("body")).not_to_be_empty()
    finally:
        context.close()


def _run_python(code: str, env: dict[str, str], cwd: Path, browser: Browser) -> tuple[int, str, str]:
    """Run ``code``; drive the browser step if it prints a sign-in URL. Returns (exit code, stdout, stderr)."""
    script = cwd / "readme_block.py"
    script.write_text(code)
    with subprocess.Popen(
        [sys.executable, str(script)], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        lines: queue.Queue[str | None] = queue.Queue()
        stdout: list[str] = []

        def pump_stderr() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                lines.put(line)
            lines.put(None)

        def pump_stdout() -> None:
            assert process.stdout is not None
            stdout.append(process.stdout.read())

        readers = [threading.Thread(target=pump_stderr, daemon=True), threading.Thread(target=pump_stdout, daemon=True)]
        for reader in readers:
            reader.start()
        stderr: list[str] = []
        try:
            while (line := lines.get(timeout=120)) is not None:
                stderr.append(line)
                url = _AUTHORIZE_URL.search(line)
                if url is not None:
                    _sign_in_in_the_browser(browser, url.group(1))
            status = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for reader in readers:
                reader.join(timeout=10)
    return status, "".join(stdout), "".join(stderr)


def test_every_block_runs_against_the_demo(browser: Browser, tmp_path: Path) -> None:
    """The README's runnable blocks, in order, against ``pixie demo``: each exits 0 and prints no OAuth error."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXIE_")}
    env.update({"HOME": str(home), "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"})
    env.pop("DISPLAY", None)  # login_with_browser prints its URL instead of opening a browser of the machine's
    ran: list[int] = []
    with pixie_process(
        ["demo", "--port", str(port)], env, f"{base}/.well-known/oauth-authorization-server", cwd=tmp_path
    ):
        for block in readme_blocks():
            if not block.runs:
                continue
            code = block.code.replace("http://127.0.0.1:8000", base).replace(".venv/bin/", f"{BIN}/")
            where = f"README.md:{block.line}"
            if block.language == "sh":
                result = subprocess.run(
                    ["bash", "-euo", "pipefail", "-c", code],
                    cwd=tmp_path,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                assert result.returncode == 0, f"{where}:\n{result.stdout}\n{result.stderr}"
                env.update(_secrets(result.stdout))
            elif block.marker is not None and block.marker[1].startswith("pytest"):
                folder = tmp_path / f"pytest-{block.line}"
                folder.mkdir()
                shutil.copy(ROOT / "examples" / "fastapi_api" / "items_api.py", folder)
                (folder / "test_readme_block.py").write_text(code)
                result = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pytest",
                        "-q",
                        "-p",
                        "no:cacheprovider",
                        "-c",
                        str(ROOT / "pyproject.toml"),
                        "--rootdir",
                        str(folder),
                        str(folder / "test_readme_block.py"),
                    ],
                    cwd=folder,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=180,
                    check=False,
                )
                assert result.returncode == 0, f"{where}:\n{result.stdout}\n{result.stderr}"
                assert "1 passed" in result.stdout, f"{where}:\n{result.stdout}"
            else:
                status, out, err = _run_python(code, env, tmp_path, browser)
                assert status == 0, f"{where}:\n{out}\n{err}"
                for sign in ("'error'", '"error"', "signed out:", "invalid_token"):
                    assert sign not in out, f"{where} printed an error:\n{out}"
            ran.append(block.line)
    assert len(ran) >= 7, ran
