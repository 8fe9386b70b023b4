"""What the back-channel endpoints (``/token``, ``/revoke``, ``/introspect``) share: reading the form body.

The browser-facing endpoints share :mod:`pixie.server.flow` instead.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from pixie.errors import InvalidRequest, safe_text
from pixie.server.grants.authorization_code import single_params

__all__ = ["read_form", "read_form_with_resources"]


async def read_form(request: Request) -> dict[str, str]:
    """A back-channel form body: ``application/x-www-form-urlencoded``, UTF-8, no parameter twice; empty values
    count as omitted.

    Spec: RFC 6749 §3.2 ("parameters sent without a value MUST be treated as if they were omitted"; "MUST NOT be
    included more than once"), Appendix B.
    """
    params, resources = await read_form_with_resources(request)
    if resources:
        if len(resources) > 1:
            raise InvalidRequest("parameter repeated: resource")
        params["resource"] = resources[0]
    return params


async def read_form_with_resources(request: Request) -> tuple[dict[str, str], list[str]]:
    """:func:`read_form` for the endpoints that take RFC 8707 resource indicators: ``resource``, the one parameter
    that may appear more than once, comes apart (every value, in order), the rest as :func:`read_form` reads it.

    Spec: RFC 8707 §2 ("the resource parameter … may be used multiple times"), RFC 6749 §3.2.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    body = await request.body()  # bounded by the Edge middleware (413 past 64 KiB)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=False, strict_parsing=False, max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the body is not valid UTF-8 form data") from None
    if any("\x00" in name or "\x00" in value for name, value in pairs):
        raise InvalidRequest("parameters must not contain NUL characters")
    resources = [value for name, value in pairs if name == "resource"]
    others = [(name, value) for name, value in pairs if name != "resource"]
    params, repeated = single_params(others, [name for name, _ in others])
    if repeated:
        raise InvalidRequest(f"parameter repeated: {safe_text(', '.join(repeated))}")
    return params, resources
