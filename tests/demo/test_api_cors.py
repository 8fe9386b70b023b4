"""The demo Property API answers CORS for the origins of the demo tenant's public clients, including one registered
with ``pixie clients create`` while the demo runs (the rule the authorization server applies to its own endpoints):
a browser app on ``http://localhost:5173`` can call it within seconds of being registered.

Spec: Fetch Standard §3.2 (CORS), §3.2.5 (preflight); RFC 6750 §3 (``WWW-Authenticate`` readable by the app).
"""

from __future__ import annotations

import base64
import json
import time

import httpx

from demo.support import MASTER_KEY, Demo, bearer
from livesupport import cli_env, run_pixie

VITE = "http://localhost:5173"


def preflight(demo: Demo, origin: str) -> httpx.Response:
    return httpx.options(
        f"{demo.api}/properties",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )


def register(demo: Demo, client_id: str, uri: str, *kind: str) -> None:
    env = cli_env(
        demo.demo_db.parent,
        f"sqlite:///{demo.pixie.db_path}",
        {"PIXIE_SECRET_KEY": base64.urlsafe_b64encode(MASTER_KEY).decode().rstrip("=")},
    )
    result = run_pixie(["clients", "create", client_id, *kind, "--redirect-uri", uri], env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["client_id"] == client_id


def test_a_client_registered_while_the_demo_runs_may_call_the_api(demo: Demo, alice: dict[str, object]) -> None:
    """Refused before registration; allowed within a few seconds after it, by the running server, without restart."""
    assert preflight(demo, VITE).status_code == 403
    register(demo, "vite-dev", f"{VITE}/callback", "--public")
    deadline = time.monotonic() + 10
    while (response := preflight(demo, VITE)).status_code != 204:
        assert time.monotonic() < deadline, "the new client's origin was not allowed within 10 s"
        time.sleep(0.2)
    assert response.headers["access-control-allow-origin"] == VITE
    listed = httpx.get(f"{demo.api}/properties", headers={**bearer(alice), "Origin": VITE})
    assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == VITE
    refused = httpx.get(f"{demo.api}/properties", headers={"Origin": VITE})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == VITE
    assert "www-authenticate" in refused.headers["access-control-expose-headers"].lower()


def test_confidential_clients_and_strangers_get_no_cors(demo: Demo) -> None:
    """Only public clients are browser apps; a confidential client's https origin and unknown origins are refused."""
    register(demo, "backend", "https://backend.example/cb", "--secret", "a-confidential-secret-0123456789abcdef")
    time.sleep(2.5)  # past the re-check interval: a refusal now is the rule, not the cache
    for origin in ("https://backend.example", "https://evil.example", "null"):
        response = preflight(demo, origin)
        assert response.status_code == 403, origin
        assert "access-control-allow-origin" not in response.headers


def test_the_spa_origin_is_allowed(demo: Demo, alice: dict[str, object]) -> None:
    """The demo SPA's own client is public: its origin (the demo's) is allowed too."""
    response = httpx.get(f"{demo.api}/properties", headers={**bearer(alice), "Origin": demo.base})
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == demo.base
