"""``/healthz`` and ``/readyz`` on a real server whose PostgreSQL connection goes through a proxy we cut.

During the outage the process is alive but not ready, and OAuth endpoints answer ``temporarily_unavailable`` (503,
``Retry-After``), never a 500; when the database is back, everything works again without a restart.
"""

from __future__ import annotations

import time

import httpx
import pytest

from faults import database_proxy, via_proxy
from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import Settings
from pixie.management import register_client
from pixie.server.app import open_backend

pytestmark = pytest.mark.postgres
SECRET = "health-suite-client-secret-000000"


def _client_credentials(http: httpx.Client) -> httpx.Response:
    return http.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", SECRET))


def test_readiness_follows_the_database_and_liveness_does_not(fresh_postgres_url: str) -> None:
    postgres_url = fresh_postgres_url
    with database_proxy(postgres_url) as proxy:
        port = free_port()
        settings = Settings(
            database_url=via_proxy(postgres_url, proxy), issuer=f"http://127.0.0.1:{port}", master_key=b"h" * 32
        )

        async def seed() -> None:
            async with open_backend(settings) as (storage, _):
                await register_client(
                    storage,
                    "default",
                    "svc",
                    redirect_uris=[],
                    public=False,
                    secret=SECRET,
                    grant_types=["client_credentials"],
                )

        run_coroutine(seed())
        with serve_pixie(settings) as base, httpx.Client(base_url=base, timeout=20) as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            ready = http.get("/readyz")
            assert (ready.status_code, ready.json()["status"]) == (200, "ready")
            assert _client_credentials(http).status_code == 200

            proxy.cut()
            started = time.monotonic()
            ready = http.get("/readyz")
            assert ready.status_code == 503 and ready.headers["retry-after"] == "5"
            assert time.monotonic() - started < 10
            assert http.get("/healthz").status_code == 200, "the process is alive: do not restart it"
            # The cached client lets the grant reach the signing step: evict nothing, just look at the answer.
            refused = http.post("/introspect", data={"token": "x"}, auth=("svc", SECRET))
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"] == "temporarily_unavailable"
            assert refused.headers["cache-control"] == "no-store"
            assert "Traceback" not in refused.text

            proxy.restore()
            deadline = time.monotonic() + 15
            while http.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "not ready again after the database came back"
                time.sleep(0.2)
            assert _client_credentials(http).status_code == 200
