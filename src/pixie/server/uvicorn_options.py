"""The uvicorn options every Pixie authorization server runs with: ``pixie serve`` and :mod:`pixie.testing`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pixie.config import Settings
from pixie.server.http_limits import HttpLimits, limited_httptools

__all__ = ["uvicorn_options"]


def uvicorn_options(settings: Settings, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Bounded request heads (``PIXIE_HTTP_*``, see :mod:`pixie.server.http_limits`), no ``Server`` header or access
    log (the audit log and metrics say what happened), and ``X-Forwarded-For`` believed only from the proxies in
    ``settings.forwarded_allow_ips``. uvicorn's own default believes it from loopback, so a client on the same host
    could pick the address its per-address limits count against."""
    return {
        "http": limited_httptools(HttpLimits.from_env(os.environ if env is None else env)),
        "access_log": False,
        "server_header": False,
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": list(settings.forwarded_allow_ips),
    }
