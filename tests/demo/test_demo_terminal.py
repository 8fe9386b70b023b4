"""``pixie demo`` as a reader runs it: the banner with the URLs and logins stays readable, because the audit log
goes to a file beside the database (``pixie.db`` → ``pixie-audit.log``, as the banner and README say); the icon
answers on the authorization server's, the API's and the app's pages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from livesupport import PIXIE, free_port
from pixie.demo.config import CLIENT_ID, redirect_uri
from spec.support import Pkce, hidden_fields


def _wait_until(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_the_banner_stays_readable_and_the_audit_log_is_a_file(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXIE_")}
    terminal = tmp_path / "terminal.txt"
    with (
        terminal.open("w") as output,
        subprocess.Popen(
            [PIXIE, "demo", "--port", str(port)], cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT
        ) as demo,
    ):
        try:

            def ready() -> bool:
                try:
                    return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
                except httpx.TransportError:
                    return False

            _wait_until(ready, timeout=60)
            with httpx.Client(base_url=base, timeout=20) as http:
                # A failed sign-in: an audited event (login_failed) that used to land in the terminal.
                authorize = http.get(
                    "/authorize",
                    params={
                        "client_id": CLIENT_ID,
                        "redirect_uri": redirect_uri(base),
                        "response_type": "code",
                        "code_challenge": Pkce.new().challenge,
                        "code_challenge_method": "S256",
                        "scope": "properties:read",
                        "state": "s",
                    },
                )
                login = http.get(authorize.headers["location"])
                failed = http.post("/login", data={**hidden_fields(login.text), "username": "alice", "password": "no"})
                assert failed.status_code in (200, 401), failed.status_code
                # The icon, wherever a browser would ask for it: the server's pages, the API's, the app's.
                assert http.get("/favicon.ico").headers["content-type"] == "image/x-icon"
                app = http.get("/app/")
                icon = re.search(r'<link rel="icon" href="([^"]+)"', app.text)
                assert icon is not None and http.get(f"/app/{icon.group(1)}").status_code == 200
                assert '<link rel="icon"' in login.text
            audit = tmp_path / "pixie-audit.log"

            def logged() -> bool:
                return audit.exists() and "login_failed" in audit.read_text()

            _wait_until(logged)
        finally:
            demo.terminate()
            demo.wait(timeout=20)
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    assert "login_failed" in {event["event"] for event in events}
    shown = terminal.read_text()
    assert "audit log        pixie-audit.log" in shown
    assert "alice / alice-demo-password" in shown
    assert '"event"' not in shown, "audit lines reached the terminal"
