"""What the interoperability tests share: running a Node script of a third-party library, and playing the user
through Pixie's login and consent pages over plain HTTP."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).resolve().parent
_FORM_FIELDS = re.compile(r'name="(request|csrf_token)" value="([^"]*)"')


def node(script: str, *args: str) -> dict[str, object]:
    """Run ``script`` (in this folder) with ``args``; its one JSON line of output."""
    if not (HERE / "node_modules" / "oauth4webapi").is_dir():
        pytest.fail("tests/interop/node_modules is missing: `make test` runs `npm ci` there")
    result = subprocess.run(
        ["node", str(HERE / script), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def browse_to_callback(authorization_url: str, redirect_uri: str, username: str, password: str) -> str:
    """Play the user: follow redirects, fill login and consent, return the redirect to the client."""
    with httpx.Client() as browser:
        response = browser.get(authorization_url)
        while response.status_code == 303 and not response.headers["location"].startswith(redirect_uri):
            response = browser.get(httpx.URL(str(response.url)).join(response.headers["location"]))
            if "/login" in str(response.url):
                fields = dict(_FORM_FIELDS.findall(response.text))
                response = browser.post(
                    str(response.url).split("?")[0], data={**fields, "username": username, "password": password}
                )
            elif "/consent" in str(response.url):
                fields = dict(_FORM_FIELDS.findall(response.text))
                response = browser.post(str(response.url).split("?")[0], data={**fields, "decision": "approve"})
        assert response.status_code == 303, response.text[:300]
        location: str = response.headers["location"]
        return location
