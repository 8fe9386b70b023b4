"""The one middleware every HTTP request passes: metrics, browser-hardening headers, the error guard and the body
limit, in a single layer.

They were four pure-ASGI middlewares, each with its own coroutine frame and, for three of them, its own ``send``
wrapper. One layer does the same with one frame and one wrapper, and wraps ``receive`` only for a body that
Content-Length alone does not frame, so a request passes through less Python on its way in and out. What each part
guarantees, from the outside in:

- **Metrics**: every request is counted with the status the client saw (500 when the app failed before answering)
  and its latency (:meth:`~pixie.server.prometheus.Metrics.observe_request`, by
  :func:`~pixie.server.observe.endpoint_label`).
- **Security headers** (ARCHITECTURE §6.5) on every response, error responses included; a response that sets one
  of them itself (a page with its own ``Content-Security-Policy``) keeps its own.
- **Error guard** (ARCHITECTURE §6.8): OAuth errors render as themselves, storage outages as 503 with
  ``Retry-After``, routing's 404 and 405 as plain-text statuses, anything else as ``server_error`` (500), logged
  with its traceback and never sent. Only before the response started; after that the server closes the
  connection. It is the server's only error guard: the app puts no other layer around its router
  (``pixie.server.app``).
- **Body limit**: a request announcing or streaming more than ``max_body`` bytes gets 413 (``invalid_request``)
  before its body is parsed.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixie.errors import InvalidRequest
from pixie.server.observe import endpoint_label
from pixie.server.prometheus import Metrics
from pixie.server.rendering import response_for
from pixie.server.request_limits import MAX_BODY_BYTES, ContentTooLarge
from pixie.server.security_headers import HEADER_NAMES, HEADERS

__all__ = ["Edge"]


class Edge:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        status = 0  # 0 until the response starts

        async def edge_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", ())
                extra = HEADERS
                if any(name.lower() in HEADER_NAMES for name, _ in headers):  # rare: a page with its own policy
                    present = {name.lower() for name, _ in headers}
                    extra = [(name, value) for name, value in HEADERS if name not in present]
                message = {**message, "headers": [*headers, *extra]}
            await send(message)

        try:
            await self.app(scope, self._bounded(scope, receive), edge_send)
        except Exception as exc:
            if status:
                raise
            await response_for(exc)(scope, receive, edge_send)
        finally:
            self.metrics.observe_request(
                endpoint_label(scope["path"]), scope["method"], status or 500, time.perf_counter() - started_at
            )

    def _bounded(self, scope: Scope, receive: Receive) -> Receive:
        """``receive``, refusing a body past ``max_body``: at once when Content-Length announces it, and while it
        streams unless Content-Length alone framed it (then the HTTP server delivers no more than announced)."""
        announced = chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    raise InvalidRequest("Content-Length is not a number")
                if int(value) > self.max_body:
                    raise ContentTooLarge()
                announced = True
            elif name == b"transfer-encoding":
                chunked = True
        if announced and not chunked:
            return receive
        received = 0
        limit = self.max_body

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # a chunked body that never announced its size
                    raise ContentTooLarge()
            return message

        return bounded_receive
