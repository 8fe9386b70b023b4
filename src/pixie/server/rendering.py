"""The one place where errors become HTTP responses, and what the error guard (:class:`~pixie.server.edge.Edge`)
answers for any fault.

Unexpected exceptions become ``server_error`` (500) and are logged with their traceback — never sent. A database
outage becomes ``temporarily_unavailable`` (503, ``Retry-After``), so clients retry instead of giving up. Starlette's
``HTTPException`` (a path no route has, a method the route does not take, a static file that is not there) is its
status with the reason in plain text, as Starlette itself renders it.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse, Response

from pixie.errors import OAuthError, Rendered, ServerError, TemporarilyUnavailable
from pixie.storage.interfaces import StorageUnavailable

__all__ = ["json_response", "render_error", "response_for"]

log = logging.getLogger("pixie.server")


def _to_response(rendered: Rendered) -> Response:
    return Response(rendered.body, status_code=rendered.status, headers=rendered.headers)


def render_error(exc: OAuthError) -> Response:
    """JSON error response (RFC 6749 §5.2) with ``Cache-Control: no-store``."""
    return _to_response(exc.render_json())


def json_response(data: Any, *, status: int = 200, no_store: bool = False, max_age: int | None = None) -> Response:
    headers = {"Content-Type": "application/json"}
    if no_store:
        headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
    elif max_age is not None:
        headers["Cache-Control"] = f"public, max-age={max_age}"
    return Response(orjson.dumps(data), status_code=status, headers=headers)


def response_for(exc: Exception) -> Response:
    """What a request that raised ``exc`` answers (used by :class:`~pixie.server.edge.Edge`'s error guard)."""
    if isinstance(exc, OAuthError):
        return render_error(exc)
    if isinstance(exc, HTTPException):
        if exc.status_code in (204, 304):  # no body allowed
            return Response(status_code=exc.status_code, headers=exc.headers)
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
    if isinstance(exc, StorageUnavailable):
        log.error("storage unavailable: %s", exc)
        response = render_error(TemporarilyUnavailable())
        response.headers["Retry-After"] = "5"
        return response
    log.exception("unexpected error", exc_info=exc)
    return render_error(ServerError())
