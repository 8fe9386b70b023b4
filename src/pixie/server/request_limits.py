"""A bound on what one request may make the server read: the body size.

A client that announces or streams more than the limit gets 413 before the body is parsed (enforced by
:class:`~pixie.server.edge.Edge`), as an ordinary OAuth
error object (``invalid_request``) with ``Cache-Control: no-store``. (The number of authorization parameters is
bounded where they are validated, so that error renders on our error page; the request line and the headers are
bounded by the HTTP server, :mod:`pixie.server.http_limits`; a JSON body's depth by
:func:`pixie.server.json_input.parse_json`.)

Spec: RFC 9110 §15.5.14 (413 Content Too Large), RFC 6749 §5.2.
"""

from __future__ import annotations

from pixie.errors import InvalidRequest

__all__ = ["MAX_BODY_BYTES", "ContentTooLarge"]

MAX_BODY_BYTES = 64 * 1024
"""Every form Pixie reads (token, revoke, introspect, login, consent) fits in far less."""


class ContentTooLarge(InvalidRequest):
    status = 413
    default_description = "the request body is too large"
