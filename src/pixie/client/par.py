"""Pushed authorization requests on the client side, without I/O: what the push answered, as the URL to send the
user to.

Spec: RFC 9126 §2.2 (the answer), §4 (``/authorize`` with ``client_id`` and ``request_uri`` only).
"""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from pixie.client.discovery import error_from, json_object
from pixie.client.errors import ProtocolViolation
from pixie.client.models import HttpResponse, ServerMetadata

__all__ = ["pushed_authorization_url"]


def pushed_authorization_url(metadata: ServerMetadata, client_id: str, response: HttpResponse) -> str:
    """The authorization URL for a pushed request: 201 with a JSON ``request_uri``; an error answer is the server's
    refusal (:class:`~pixie.client.errors.ServerRefused`).

    Spec: RFC 9126 §2.2, §2.3, §4.
    """
    if response.status != 201:
        raise error_from(response)
    body = json_object(response, "pushed authorization response")
    request_uri = body.get("request_uri")
    if not isinstance(request_uri, str) or not request_uri:
        raise ProtocolViolation("invalid_par_response", "the pushed authorization response has no request_uri")
    if metadata.authorization_endpoint is None:
        raise ProtocolViolation("invalid_metadata", "the server's metadata has no authorization_endpoint")
    parts = urlsplit(metadata.authorization_endpoint)
    query = urlencode([("client_id", client_id), ("request_uri", request_uri)], quote_via=quote)
    return urlunsplit(parts._replace(query="&".join(q for q in (parts.query, query) if q), fragment=""))
