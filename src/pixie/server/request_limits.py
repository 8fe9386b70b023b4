"""A bound on what one request may make the server read: the body size.

A client that announces or streams more than the limit gets 413 before the body is parsed, as an ordinary OAuth
error object (``invalid_request``) with ``Cache-Control: no-store``. (The number of authorization parameters is
bounded where they are validated, so that error renders on our error page; the URL length is bounded by the HTTP
server.)

Spec: RFC 9110 §15.5.14 (413 Content Too Large), RFC 6749 §5.2.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixie.errors import InvalidRequest

__all__ = ["MAX_BODY_BYTES", "ContentTooLarge", "RequestLimits"]

MAX_BODY_BYTES = 64 * 1024
"""Every form Pixie reads (token, revoke, introspect, login, consent) fits in far less."""


class ContentTooLarge(InvalidRequest):
    status = 413
    default_description = "the request body is too large"


class RequestLimits:
    """Pure-ASGI middleware. Sits inside the error guard, so the errors it raises render as themselves."""

    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    raise InvalidRequest("Content-Length is not a number")
                if int(value) > self.max_body:
                    raise ContentTooLarge()
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:  # a chunked body that never announced its size
                    raise ContentTooLarge()
            return message

        await self.app(scope, bounded_receive, send)
