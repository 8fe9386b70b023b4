"""Discovery: fetch and validate authorization-server metadata, and the URL rules every endpoint must meet.

Spec: RFC 8414 §3 (the request, the response, the issuer check), RFC 8414 §2 (the fields used).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pixie.client.errors import ProtocolViolation, ServerRefused
from pixie.client.models import HttpRequest, HttpResponse, ServerMetadata

__all__ = ["check_url", "discovery_request", "error_from", "json_object", "process_discovery_response"]

_WELL_KNOWN = "/.well-known/oauth-authorization-server"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def check_url(url: str, what: str, *, insecure_allow_http: bool = False) -> str:
    """Refuse a URL that is not https, unless it is http on a loopback host (or ``insecure_allow_http``).

    Spec: RFC 8414 §2 (issuer uses https), RFC 6749 §3.1 / §3.2 (endpoints require TLS), RFC 8252 §7.3.
    """
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and (parts.hostname in _LOOPBACK_HOSTS or insecure_allow_http):
        return url
    raise ValueError(f"{what} {url!r} must be an https URL (http only on loopback or with insecure_allow_http=True)")


def discovery_request(issuer: str) -> HttpRequest:
    """``GET`` the metadata, the well-known suffix inserted between host and path of the issuer.

    Spec: RFC 8414 §3.1.
    """
    parts = urlsplit(issuer)
    if parts.query or parts.fragment:
        raise ValueError(f"issuer {issuer!r} must not have a query or fragment (RFC 8414 §2)")
    path = _WELL_KNOWN + parts.path.rstrip("/")
    return HttpRequest("GET", urlunsplit((parts.scheme, parts.netloc, path, "", "")), {"Accept": "application/json"})


def json_object(response: HttpResponse, what: str) -> dict[str, Any]:
    try:
        data = json.loads(response.body)
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        shown = response.content_type or "no content type"
        raise ProtocolViolation(
            "not_json", f"the {what} is not a JSON object (HTTP {response.status}, {shown})", response=response
        )
    return data


def error_from(response: HttpResponse) -> ServerRefused | ProtocolViolation:
    """What an unsuccessful answer means: the server's OAuth error object (:class:`ServerRefused`), or a
    :class:`ProtocolViolation` when it sent none. Spec: RFC 6749 §5.2."""
    try:
        body = json_object(response, f"HTTP {response.status} error response")
    except ProtocolViolation as exc:
        return exc
    error = body.get("error")
    if not isinstance(error, str) or not error:
        return ProtocolViolation(
            "unexpected_status", f"HTTP {response.status} without an OAuth error object", response=response
        )
    description, uri = body.get("error_description"), body.get("error_uri")
    return ServerRefused(
        error,
        description if isinstance(description, str) else None,
        error_uri=uri if isinstance(uri, str) else None,
        status=response.status,
        response=response,
    )


def process_discovery_response(
    issuer: str, response: HttpResponse, *, insecure_allow_http: bool = False
) -> ServerMetadata:
    """Validate the metadata document: 200, a JSON object, ``issuer`` identical to the configured issuer, the
    endpoints present and secure, and S256 among the PKCE methods when the server lists them.

    Spec: RFC 8414 §3.2, §3.3 (issuer MUST be identical), §2; RFC 7636 §4.3; OAuth 2.1 §7.5.2.
    """
    if response.status != 200:
        raise ProtocolViolation(
            "unexpected_status", f"metadata request answered HTTP {response.status}, not 200", response=response
        )
    doc = json_object(response, "metadata document")
    if doc.get("issuer") != issuer:
        raise ProtocolViolation(
            "issuer_mismatch",
            f"metadata issuer {str(doc.get('issuer'))[:200]!r} is not the configured issuer {issuer!r}",
            response=response,
        )

    def endpoint(name: str, required: bool) -> str | None:
        value = doc.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise ProtocolViolation(
                "invalid_metadata", f"metadata {name} is missing or not a string", response=response
            )
        try:
            return check_url(value, f"metadata {name}", insecure_allow_http=insecure_allow_http)
        except ValueError as exc:
            raise ProtocolViolation("invalid_metadata", str(exc), response=response) from None

    def strings(name: str) -> tuple[str, ...]:
        value = doc.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ProtocolViolation("invalid_metadata", f"metadata {name} is not a list of strings", response=response)
        return tuple(value)

    methods = strings("code_challenge_methods_supported")
    if methods and "S256" not in methods:
        raise ProtocolViolation("invalid_metadata", "the server does not support PKCE S256", response=response)
    iss_supported = doc.get("authorization_response_iss_parameter_supported", False)
    if not isinstance(iss_supported, bool):
        raise ProtocolViolation(
            "invalid_metadata", "authorization_response_iss_parameter_supported is not a boolean", response=response
        )
    require_par = doc.get("require_pushed_authorization_requests", False)
    if not isinstance(require_par, bool):
        raise ProtocolViolation(
            "invalid_metadata", "require_pushed_authorization_requests is not a boolean", response=response
        )
    token_endpoint = endpoint("token_endpoint", required=True)
    assert token_endpoint is not None
    return ServerMetadata(
        issuer=issuer,
        authorization_endpoint=endpoint("authorization_endpoint", required=False),
        token_endpoint=token_endpoint,
        revocation_endpoint=endpoint("revocation_endpoint", required=False),
        introspection_endpoint=endpoint("introspection_endpoint", required=False),
        jwks_uri=endpoint("jwks_uri", required=False),
        userinfo_endpoint=endpoint("userinfo_endpoint", required=False),
        end_session_endpoint=endpoint("end_session_endpoint", required=False),
        code_challenge_methods_supported=methods,
        token_endpoint_auth_methods_supported=strings("token_endpoint_auth_methods_supported"),
        authorization_response_iss_parameter_supported=iss_supported,
        pushed_authorization_request_endpoint=endpoint("pushed_authorization_request_endpoint", required=False),
        require_pushed_authorization_requests=require_par,
        raw=doc,
    )
