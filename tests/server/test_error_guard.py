"""The error guard (in :class:`~pixie.server.edge.Edge`): no stack trace, ever (ARCHITECTURE §6.8). Tiny inline
apps, real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livesupport import free_port, serve_in_thread
from pixie.errors import InvalidGrant
from pixie.server.edge import Edge
from pixie.server.prometheus import Metrics
from pixie.storage.interfaces import StorageUnavailable


async def boom(request: Request) -> Response:
    raise RuntimeError("secret internal detail /etc/passwd")


async def db_down(request: Request) -> Response:
    raise StorageUnavailable("connection refused to 10.0.0.5")


async def oauth(request: Request) -> Response:
    raise InvalidGrant("code already used")


METRICS = Metrics()


@pytest.fixture
def guarded() -> Iterator[str]:
    app = Starlette(
        routes=[Route("/boom", boom), Route("/db", db_down), Route("/oauth", oauth)],
        middleware=[Middleware(Edge, metrics=METRICS)],
    )
    with serve_in_thread(app, free_port()) as url:
        yield url


def test_unexpected_fault_is_server_error_without_detail(guarded: str, caplog: pytest.LogCaptureFixture) -> None:
    response = httpx.get(f"{guarded}/boom")
    assert response.status_code == 500
    assert response.json()["error"] == "server_error"
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    assert response.headers["cache-control"] == "no-store"
    assert any("unexpected error" in r.message for r in caplog.records)


def test_storage_outage_is_503_with_retry_after(guarded: str) -> None:
    """RFC 6749 §4.1.2.1 temporarily_unavailable; no internal address leaks."""
    response = httpx.get(f"{guarded}/db")
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["retry-after"] == "5"
    assert "10.0.0.5" not in response.text


def test_oauth_error_renders_itself(guarded: str) -> None:
    response = httpx.get(f"{guarded}/oauth")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "code already used"}


def test_a_guarded_fault_is_hardened_and_counted_as_the_client_saw_it(guarded: str) -> None:
    """One layer: the 500 the guard renders carries the security headers and is what the request metrics count."""

    def failures() -> float:
        for family in text_string_to_metric_families(METRICS.exposition().decode()):
            for sample in family.samples:
                if sample.name == "pixie_http_requests_total" and sample.labels["status"] == "500":
                    return sample.value
        return 0.0

    before = failures()
    response = httpx.get(f"{guarded}/boom")
    assert response.status_code == 500
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert failures() == before + 1
