"""``GET /healthz`` (the process answers) and ``GET /readyz`` (it can serve: the database answers in time).

A load balancer sends traffic only to ready instances and restarts only dead ones, so the two must differ: a
database outage makes every instance unready but none of them dead.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import Response

from pixie.server.context import context_of
from pixie.server.rendering import json_response
from pixie.storage.interfaces import StorageError
from pixie.tenancy import DEFAULT_TENANT

__all__ = ["READY_TIMEOUT_SECONDS", "healthz", "readyz"]

READY_TIMEOUT_SECONDS = 2.0
log = logging.getLogger("pixie.server")


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"}, no_store=True)


async def readyz(request: Request) -> Response:
    ctx = context_of(request)
    try:
        await asyncio.wait_for(ctx.storage.tenants.get(DEFAULT_TENANT), READY_TIMEOUT_SECONDS)
    except (StorageError, TimeoutError) as exc:
        log.warning("not ready: the database did not answer (%s)", type(exc).__name__)
        response = json_response({"status": "unavailable", "database": "unreachable"}, status=503, no_store=True)
        response.headers["Retry-After"] = "5"
        return response
    return json_response({"status": "ready", "database": "ok"}, no_store=True)
