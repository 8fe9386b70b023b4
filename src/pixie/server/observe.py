"""The ``endpoint`` label of request metrics (recorded by :class:`~pixie.server.edge.Edge`).

The label is the route without its tenant prefix (``/t/acme/token`` → ``/token``), or ``other`` for
paths Pixie does not serve, so a scanner walking random URLs cannot grow the series.
"""

from __future__ import annotations

__all__ = ["endpoint_label"]

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
