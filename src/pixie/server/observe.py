"""Pure-ASGI middleware timing every HTTP request into the app's :class:`~pixie.metrics.Metrics`.

The ``endpoint`` label is the route without its tenant prefix (``/t/acme/token`` → ``/token``), or ``other`` for
paths Pixie does not serve, so a scanner walking random URLs cannot grow the series.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixie.metrics import Metrics

__all__ = ["RequestMetrics", "endpoint_label"]

_WELL_KNOWN = "/.well-known/oauth-authorization-server"
_ENDPOINTS = frozenset(
    {
        "/authorize",
        "/login",
        "/consent",
        "/logout",
        "/token",
        "/revoke",
        "/introspect",
        "/jwks.json",
        "/metrics",
        "/healthz",
        "/readyz",
        "/admin",
        "/openapi.json",
        _WELL_KNOWN,
    }
)


def endpoint_label(path: str) -> str:
    if path.startswith(_WELL_KNOWN):
        return _WELL_KNOWN
    if path.startswith("/t/"):
        _, _, rest = path[3:].partition("/")
        path = "/" + rest
        if path.startswith(_WELL_KNOWN):
            return _WELL_KNOWN
    if path in _ENDPOINTS:
        return path
    for prefix in ("/static/", "/admin/", "/api/", "/app/"):
        if path.startswith(prefix):
            return prefix.rstrip("/")
    return "other"


class RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        started = time.perf_counter()
        status = 500  # what the client sees when the app fails before answering

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            metrics.observe_request(
                endpoint_label(scope["path"]), scope["method"], status, time.perf_counter() - started
            )
