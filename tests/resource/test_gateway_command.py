"""``pixie gateway`` as a subprocess in front of a real upstream, with the real Pixie as issuer.

Spec: ARCHITECTURE §4 (command line, exit codes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from resource_support import AUDIENCE
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from livesupport import cli_env, free_port, pixie_process, run_pixie, serve_in_thread

Pixie = Any


async def whoami(request: Request) -> Response:
    headers = request.headers
    return JSONResponse(
        {
            "sub": headers.get("x-pixie-sub"),
            "scope": headers.get("x-pixie-scope"),
            "for": headers.get("x-forwarded-for"),
        }
    )


@pytest.fixture
def upstream() -> Iterator[str]:
    with serve_in_thread(
        Starlette(routes=[Route("/{path:path}", whoami, methods=["GET", "POST"])]), free_port()
    ) as base:
        yield base


def test_gateway_command_protects_the_upstream(pixie: Pixie, upstream: str, tmp_path: Path) -> None:
    port = free_port()
    args = [
        "gateway",
        "--upstream",
        upstream,
        "--issuer",
        pixie.base,
        "--audience",
        AUDIENCE,
        "--port",
        str(port),
        "--require-scope",
        "properties:read",
        "--route",
        "POST /api=properties:write",
    ]
    env = cli_env(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    base = f"http://127.0.0.1:{port}"
    with pixie_process(args, env, ready_url=f"{base}/"):
        spoofed = {"Authorization": f"Bearer {pixie.mint('reader')}", "X-Forwarded-For": "203.0.113.9"}
        ok = httpx.get(f"{base}/api/x", headers=spoofed)
        refused = httpx.post(f"{base}/api/x", headers={"Authorization": f"Bearer {pixie.mint('reader')}"})
        anonymous = httpx.get(f"{base}/api/x")
        oversized = httpx.get(f"{base}/api/x", headers={"X-Padding": "a" * 70_000})
    # the caller's X-Forwarded-For is kept as history; the address the gateway saw is appended, not replaced by it
    assert ok.json() == {"sub": "reader", "scope": "properties:read", "for": "203.0.113.9, 127.0.0.1"}
    assert refused.status_code == 403 and 'scope="properties:write"' in refused.headers["www-authenticate"]
    assert anonymous.status_code == 401
    assert oversized.status_code == 431  # the gateway is an edge too: request heads bounded as under pixie serve


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(["--route", "api=read"], id="route-without-slash"),
        pytest.param(["--issuer", "http://auth.example"], id="http-issuer-off-loopback"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, extra: list[str]) -> None:
    args = ["gateway", "--upstream", "http://127.0.0.1:1", "--issuer", "http://127.0.0.1:2", *extra]
    result = run_pixie(args, cli_env(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
