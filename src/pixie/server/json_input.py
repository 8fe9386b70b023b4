"""Reading a JSON request body within bounds: its size and its depth of nesting.

Python's :func:`json.loads` recurses once per level of nesting, so a few kilobytes of ``[[[[…`` raise
:class:`RecursionError` — an unexpected fault, which the error guard turns into a 500 — and a value nested just
under the interpreter's limit can exhaust it later, in whatever code walks the value. Pixie's JSON bodies are
shallow (the admin API's deepest is an object inside an object), so :func:`parse_json` measures the nesting before
it parses: it drops the strings (whose brackets do not nest anything) with one linear regular expression, keeps
only the brackets, and counts. A body with fewer opening brackets than the limit, every real one, is not walked at
all. Refusals are ``invalid_request`` (400; 413 past the size), rendered with ``Cache-Control: no-store`` like every
OAuth error.

Spec: RFC 8259 §9 ("an implementation may set limits on the size of texts that it accepts [and] on the maximum
depth of nesting"), RFC 8259 §6 (no NaN or Infinity), RFC 6749 §5.2 (``invalid_request``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pixie.errors import InvalidRequest
from pixie.server.request_limits import MAX_BODY_BYTES, ContentTooLarge

__all__ = ["MAX_JSON_DEPTH", "parse_json"]

MAX_JSON_DEPTH = 32
"""Arrays and objects inside one another; Pixie's own bodies need three at most."""

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
"""A JSON string, escapes included, written so that it never backtracks (an unterminated string fails in linear
time)."""

_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_OPENING = frozenset(b"[{")


def _too_deep(body: bytes, max_depth: int) -> bool:
    """True when arrays and objects nest more than ``max_depth`` deep, counted outside strings."""
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in _OPENING:
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes, *, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value in ``body`` (UTF-8), or :class:`~pixie.errors.InvalidRequest`: too large (413), nested
    deeper than ``max_depth``, or not JSON.

    Spec: RFC 8259 §9, §6, §8.1; RFC 6749 §5.2.
    """
    if len(body) > max_bytes:
        raise ContentTooLarge()
    if _too_deep(body, max_depth):
        raise InvalidRequest(f"the JSON body is nested too deeply (at most {max_depth} levels)")
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidRequest("the body is not valid JSON") from None
