"""Helpers to run real servers on loopback for tests: Pixie in-process through :mod:`pixie.testing`, other apps in a
uvicorn thread, and ``pixie`` subprocesses."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from starlette.types import ASGIApp

from pixie.config import Settings
from pixie.testing import PixieTestServer

T = TypeVar("T")

PIXIE = str(Path(sys.executable).with_name("pixie"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_in_thread(app: ASGIApp, port: int, **options: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1:port in a thread (lifespan included); yield its base URL. ``options``
    go to ``uvicorn.Config`` (``forwarded_allow_ips``...)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serve_pixie(
    settings: Settings, *, port: int | None = None, wrap: Callable[[Any], Any] | None = None
) -> Iterator[str]:
    """Serve Pixie with ``settings`` as an app's test suite would, through :class:`pixie.testing.PixieTestServer` (on
    the port of ``settings.issuer`` unless ``port``, run as ``pixie serve`` runs it); yield the URL it listens at."""
    with PixieTestServer(settings, port=port, wrap=wrap) as server:
        yield server.base_url


def cli_env(workdir: Path, database_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXIE_")}
    env.update({"PIXIE_DATABASE_URL": database_url, "PIXIE_SECRET_FILE": str(workdir / "pixie.secret")})
    env.update(extra or {})
    return env


def run_pixie(args: list[str], env: Mapping[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PIXIE, *args], input=stdin, capture_output=True, text=True, env=dict(env), timeout=60, check=False
    )


@contextmanager
def pixie_process(
    args: list[str], env: Mapping[str, str], ready_url: str, timeout: float = 30, cwd: Path | None = None
) -> Iterator[subprocess.Popen[str]]:
    """Start a long-running ``pixie`` command (serve, demo, gateway) and wait until ``ready_url`` answers; yield the
    process. Its output goes to a temporary file, not a pipe: a pipe nobody reads fills up (the audit log writes a
    line per event) and stalls the server."""
    with tempfile.TemporaryFile(mode="w+") as output:
        proc = subprocess.Popen(
            [PIXIE, *args], cwd=cwd, env=dict(env), stdout=output, stderr=subprocess.STDOUT, text=True
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    output.seek(0)
                    raise RuntimeError(f"pixie exited early ({proc.returncode}): {output.read()[-4000:]}")
                try:
                    if httpx.get(ready_url, timeout=1).status_code < 500:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("pixie did not become ready")
                time.sleep(0.05)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh event loop in a worker thread (safe even when the calling thread
    already runs a loop, as Playwright's sync API does)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
