"""OAuth errors: one class per registered error code, each able to render itself.

A grant or endpoint writes ``raise InvalidGrant("code already used")``; the class knows its ``error`` code, its
default description and HTTP status, and renders itself three ways: a JSON body (token, revocation and
introspection endpoints, RFC 6749 §5.2), redirect parameters (authorization responses, RFC 6749 §4.1.2.1 with
``iss`` from RFC 9207) and a ``WWW-Authenticate: Bearer`` challenge (protected resources, RFC 6750 §3).
Rendering produces a framework-free :class:`Rendered`; the HTTP edge turns it into a response.

Class tree::

    OAuthError
    ├── InvalidRequest            invalid_request            400   RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1
    ├── InvalidClient             invalid_client             401   RFC 6749 §5.2
    ├── InvalidGrant              invalid_grant              400   RFC 6749 §5.2
    ├── UnauthorizedClient        unauthorized_client        400   RFC 6749 §4.1.2.1, §5.2
    ├── UnsupportedGrantType      unsupported_grant_type     400   RFC 6749 §5.2
    ├── UnsupportedResponseType   unsupported_response_type  400   RFC 6749 §4.1.2.1
    ├── InvalidScope              invalid_scope              400   RFC 6749 §4.1.2.1, §5.2
    ├── InvalidTarget             invalid_target             400   RFC 8707 §2 (resource indicators)
    ├── AccessDenied              access_denied              403   RFC 6749 §4.1.2.1
    ├── ServerError               server_error               500   RFC 6749 §4.1.2.1
    ├── TemporarilyUnavailable    temporarily_unavailable    503   RFC 6749 §4.1.2.1
    │   └── TooManyRequests       temporarily_unavailable    429   RFC 6585 §4 (with Retry-After)
    ├── InvalidToken              invalid_token              401   RFC 6750 §3.1
    ├── InsufficientScope         insufficient_scope         403   RFC 6750 §3.1
    ├── UnsupportedTokenType      unsupported_token_type     400   RFC 7009 §2.2.1
    ├── RequestNotSupported       request_not_supported      400   OpenID Connect Core §3.1.2.6
    ├── InteractionRequired       interaction_required       400   OpenID Connect Core §3.1.2.6 (prompt=none)
    │   ├── LoginRequired         login_required
    │   └── ConsentRequired       consent_required
    ├── InvalidRedirectUri        invalid_redirect_uri       400   RFC 7591 §3.2.2
    └── InvalidClientMetadata     invalid_client_metadata    400   RFC 7591 §3.2.2
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

__all__ = [
    "AccessDenied",
    "ConsentRequired",
    "InsufficientScope",
    "InteractionRequired",
    "InvalidClient",
    "InvalidClientMetadata",
    "InvalidDPoPProof",
    "InvalidGrant",
    "InvalidRedirectUri",
    "InvalidRequest",
    "InvalidScope",
    "InvalidTarget",
    "InvalidToken",
    "LoginRequired",
    "OAuthError",
    "Rendered",
    "RequestNotSupported",
    "ServerError",
    "TemporarilyUnavailable",
    "TooManyRequests",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "UnsupportedResponseType",
    "UnsupportedTokenType",
    "UseDPoPNonce",
    "error_class_for",
    "safe_text",
]

# RFC 6749 §5.2: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E ) — printable ASCII without '"' and '\'.
_DESCRIPTION_RE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def safe_text(value: object, limit: int = 80) -> str:
    """Make caller-supplied text fit inside an ``error_description``: forbidden characters become ``?``, long
    values are cut. Use it whenever a description quotes a request parameter."""
    text = str(value)
    cleaned = "".join(ch if _DESCRIPTION_RE.fullmatch(ch) else "?" for ch in text[:limit])
    return cleaned + ("..." if len(text) > limit else "")


@dataclass(frozen=True)
class Rendered:
    """A framework-free HTTP error response: the edge copies it into its own response type."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class OAuthError(Exception):
    """Base of every OAuth protocol error. Subclasses set ``error``, ``status`` and ``default_description``."""

    error: ClassVar[str] = "server_error"
    status: ClassVar[int] = 500
    default_description: ClassVar[str] = "the server could not complete the request"

    def __init__(self, description: str | None = None, *, uri: str | None = None) -> None:
        text = self.default_description if description is None else description
        if not _DESCRIPTION_RE.fullmatch(text):
            raise ValueError(
                f"error_description {text!r} has characters RFC 6749 §5.2 forbids; pass it through safe_text()"
            )
        super().__init__(text)
        self.description = text
        self.uri = uri

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"

    def as_dict(self) -> dict[str, str]:
        """The RFC 6749 §5.2 error object."""
        body = {"error": self.error, "error_description": self.description}
        if self.uri is not None:
            body["error_uri"] = self.uri
        return body

    def render_json(self) -> Rendered:
        """A JSON error response with ``Cache-Control: no-store``.

        Spec: RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 7662 §2.3.
        """
        headers = {"Content-Type": "application/json", **_NO_STORE}
        return Rendered(self.status, json.dumps(self.as_dict()).encode("utf-8"), headers)

    def redirect_params(self, *, state: str | None, iss: str) -> list[tuple[str, str]]:
        """Query parameters for an error sent back to a trusted redirect URI, with ``state`` echoed and ``iss``.

        Spec: RFC 6749 §4.1.2.1, RFC 9207 §2.
        """
        params = list(self.as_dict().items())
        if state is not None:
            params.append(("state", state))
        params.append(("iss", iss))
        return params

    def www_authenticate(
        self,
        *,
        realm: str | None = None,
        scope: str | None = None,
        scheme: str = "Bearer",
        algs: Sequence[str] = (),
        resource_metadata: str | None = None,
    ) -> str:
        """The ``WWW-Authenticate`` challenge for this error: ``Bearer``, or ``DPoP`` with the proof algorithms
        the resource server accepts (``algs``); with ``resource_metadata``, the URL of the resource's metadata.

        Spec: RFC 6750 §3, RFC 9449 §7.1, RFC 9728 §5.1.
        """
        params: list[str] = []
        if realm is not None:
            params.append(f'realm="{safe_text(realm, 200)}"')
        params.append(f'error="{self.error}"')
        params.append(f'error_description="{self.description}"')
        if scope is not None:
            params.append(f'scope="{safe_text(scope, 1000)}"')
        if algs:
            params.append(f'algs="{" ".join(algs)}"')
        if resource_metadata is not None:
            params.append(f'resource_metadata="{safe_text(resource_metadata, 2000)}"')
        return f"{scheme} " + ", ".join(params)

    def render_bearer(
        self, *, realm: str | None = None, scope: str | None = None, resource_metadata: str | None = None
    ) -> Rendered:
        """A protected resource's error response: challenge header plus JSON body.

        Spec: RFC 6750 §3, §3.1; RFC 9728 §5.1 (``resource_metadata``).
        """
        rendered = self.render_json()
        challenge = self.www_authenticate(realm=realm, scope=scope, resource_metadata=resource_metadata)
        headers = {**rendered.headers, "WWW-Authenticate": challenge}
        return Rendered(rendered.status, rendered.body, headers)


class InvalidRequest(OAuthError):
    error = "invalid_request"
    status = 400
    default_description = "the request is missing a parameter, repeats one, or is otherwise malformed"


class InvalidClient(OAuthError):
    """Client authentication failed. With ``basic_challenge`` the response carries ``WWW-Authenticate: Basic``,
    which RFC 6749 §5.2 requires when the client tried the Authorization header."""

    error = "invalid_client"
    status = 401
    default_description = "client authentication failed"

    def __init__(
        self, description: str | None = None, *, uri: str | None = None, basic_challenge: bool = False
    ) -> None:
        super().__init__(description, uri=uri)
        self.basic_challenge = basic_challenge

    def render_json(self) -> Rendered:
        rendered = super().render_json()
        if not self.basic_challenge:
            return rendered
        return Rendered(rendered.status, rendered.body, {**rendered.headers, "WWW-Authenticate": 'Basic realm="pixie"'})


class InvalidGrant(OAuthError):
    error = "invalid_grant"
    status = 400
    default_description = "the grant is invalid, expired, revoked or was issued to another client"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    status = 400
    default_description = "the client is not allowed to use this grant type"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    status = 400
    default_description = "the grant type is not supported"


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"
    status = 400
    default_description = "only response_type=code is supported"


class InvalidScope(OAuthError):
    error = "invalid_scope"
    status = 400
    default_description = "the requested scope is invalid, unknown or not allowed for this client"


class InvalidTarget(OAuthError):
    """A ``resource`` that is malformed, unknown, or not part of what was granted.

    Spec: RFC 8707 §2 ("invalid_target"), §2.2."""

    error = "invalid_target"
    status = 400
    default_description = "the requested resource is invalid, unknown, or not one the grant allows"


class AccessDenied(OAuthError):
    error = "access_denied"
    status = 403
    default_description = "the resource owner denied the request"


class ServerError(OAuthError):
    """An unexpected fault. Its description never carries internal detail; the cause is logged, not sent."""

    error = "server_error"
    status = 500
    default_description = "the server encountered an unexpected condition"


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status = 503
    default_description = "the server is temporarily unable to handle the request; try again later"


class TooManyRequests(TemporarilyUnavailable):
    """A rate limit was hit. OAuth registers no code for this; ``temporarily_unavailable`` is the one clients
    already retry on, and the 429 status with ``Retry-After`` says when.

    Spec: RFC 6585 §4, RFC 9110 §10.2.3 (Retry-After).
    """

    status = 429
    default_description = "too many requests; retry later"

    def __init__(self, retry_after: int, description: str | None = None) -> None:
        super().__init__(description)
        self.retry_after = max(1, int(retry_after))

    def render_json(self) -> Rendered:
        rendered = super().render_json()
        return Rendered(rendered.status, rendered.body, {**rendered.headers, "Retry-After": str(self.retry_after)})


class InvalidToken(OAuthError):
    error = "invalid_token"
    status = 401
    default_description = "the access token is invalid, expired or revoked"


class InsufficientScope(OAuthError):
    error = "insufficient_scope"
    status = 403
    default_description = "the access token does not carry the scope this request needs"


class UnsupportedTokenType(OAuthError):
    error = "unsupported_token_type"
    status = 400
    default_description = "revocation of this token type is not supported"


class InteractionRequired(OAuthError):
    error = "interaction_required"
    status = 400
    default_description = "the request needs user interaction but prompt=none was given"


class LoginRequired(InteractionRequired):
    error = "login_required"
    default_description = "the user is not signed in and prompt=none was given"


class ConsentRequired(InteractionRequired):
    error = "consent_required"
    default_description = "the user has not consented to this client and scope and prompt=none was given"


class InvalidDPoPProof(OAuthError):
    """A DPoP proof that fails a check. At the token endpoint a 400 with the JSON error; at a resource server a 401
    with a ``DPoP`` challenge (:meth:`www_authenticate` with ``scheme="DPoP"``).

    Spec: RFC 9449 §5 (token endpoint), §7.1 (resource server), §12.1 (the code).
    """

    error = "invalid_dpop_proof"
    status = 400
    default_description = "the DPoP proof is invalid"


class UseDPoPNonce(OAuthError):
    """The server wants its nonce in the DPoP proof: the response carries the nonce in a ``DPoP-Nonce`` header,
    and the client retries once with it.

    Spec: RFC 9449 §8 (authorization server), §9 (resource server), §12.1 (the code).
    """

    error = "use_dpop_nonce"
    status = 400
    default_description = "the DPoP proof must carry the server's nonce"

    def __init__(self, nonce: str, description: str | None = None) -> None:
        super().__init__(description)
        self.nonce = nonce

    def render_json(self) -> Rendered:
        rendered = super().render_json()
        return Rendered(rendered.status, rendered.body, {**rendered.headers, "DPoP-Nonce": self.nonce})


class InvalidRedirectUri(OAuthError):
    """Dynamic registration: a redirect URI that Pixie would never redirect to. Spec: RFC 7591 §3.2.2."""

    error = "invalid_redirect_uri"
    status = 400
    default_description = "a redirect URI is not acceptable"


class InvalidClientMetadata(OAuthError):
    """Dynamic registration: a metadata field with a value Pixie refuses. Spec: RFC 7591 §3.2.2."""

    error = "invalid_client_metadata"
    status = 400
    default_description = "the client metadata is not acceptable"


class RequestNotSupported(OAuthError):
    """OpenID Connect Core §3.1.2.6: the ``request`` and ``request_uri`` parameters (request objects)."""

    error = "request_not_supported"
    status = 400
    default_description = "request objects (request, request_uri) are not supported"


_BY_CODE: dict[str, type[OAuthError]] = {
    cls.error: cls
    for cls in (
        InvalidRequest,
        InvalidClient,
        InvalidGrant,
        UnauthorizedClient,
        UnsupportedGrantType,
        UnsupportedResponseType,
        InvalidScope,
        InvalidTarget,
        AccessDenied,
        ServerError,
        TemporarilyUnavailable,
        InvalidToken,
        InsufficientScope,
        UnsupportedTokenType,
        InteractionRequired,
        LoginRequired,
        ConsentRequired,
        InvalidDPoPProof,
        UseDPoPNonce,
        RequestNotSupported,
        InvalidRedirectUri,
        InvalidClientMetadata,
    )
}


def error_class_for(code: str) -> type[OAuthError]:
    """The class for a registered error code (``KeyError`` for an unknown one)."""
    return _BY_CODE[code]
