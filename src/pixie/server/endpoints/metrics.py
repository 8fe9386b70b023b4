"""``GET /metrics``: the Prometheus text format, for callers on an allowed network or with Basic credentials.

Defaults to loopback only: metrics name clients and show traffic, which is nobody else's business. Widen it with
``PIXIE_METRICS_ALLOW`` (networks) or ``PIXIE_METRICS_BASIC_AUTH`` (``user:password``, compared in constant time).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress

from starlette.requests import Request
from starlette.responses import Response

from pixie.security import constant_time_equals
from pixie.server.context import context_of
from pixie.server.prometheus import CONTENT_TYPE

__all__ = ["metrics"]


def _ip_allowed(host: str | None, networks: tuple[str, ...]) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)


def _basic_ok(header: str | None, expected: str | None) -> bool:
    if not expected or not header or not header.lower().startswith("basic "):
        return False
    try:
        given = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return constant_time_equals(given, expected)


async def metrics(request: Request) -> Response:
    ctx = context_of(request)
    settings = ctx.settings
    host = request.client.host if request.client else None
    if not (
        _ip_allowed(host, settings.metrics_allow)
        or _basic_ok(request.headers.get("authorization"), settings.metrics_basic_auth)
    ):
        if settings.metrics_basic_auth:
            return Response(
                "credentials required\n", 401, {"WWW-Authenticate": 'Basic realm="pixie-metrics"'}, "text/plain"
            )
        return Response("forbidden\n", 403, media_type="text/plain")
    return Response(ctx.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})
