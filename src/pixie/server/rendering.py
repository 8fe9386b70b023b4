"""The one place where errors become HTTP responses, and what the error guard (:class:`~pixie.server.edge.Edge`)
answers for any fault.

Unexpected exceptions become ``server_error`` (500) and are logged with their traceback — never sent. A database
outage becomes ``temporarily_unavailable`` (503, ``Retry-After``), so clients retry instead of giving up.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.responses import Response

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
    if isinstance(exc, StorageUnavailable):
        log.error("storage unavailable: %s", exc)
        response = render_error(TemporarilyUnavailable())
        response.headers["Retry-After"] = "5"
        return response
    log.exception("unexpected error", exc_info=exc)
    return render_error(ServerError())
