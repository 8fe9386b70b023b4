"""The client's two errors: the server refused, or the server's reply broke the spec (STYLE item 2).

Callers branch on data, not on classes: ``exc.error == "invalid_grant"`` for a refusal (servers send codes we have
never seen, so there is deliberately no subclass per OAuth error code), ``exc.code == "issuer_mismatch"`` for a
broken reply. Both carry a stable string ``code`` for logs and metrics.

Exception tree::

    Exception
    ├── ServerRefused         code "server_refused"; error, error_description, error_uri, status, response
    │                         RFC 6749 §4.1.2.1 (authorization), §5.2 (token endpoint)
    └── ProtocolViolation     code: one of PROTOCOL_VIOLATION_CODES below; response (when there was one)

``ProtocolViolation`` codes:

======================  ====================================================================  =====================
code                    meaning                                                               spec
======================  ====================================================================  =====================
not_json                a body that must be a JSON object is not one (an HTML error page)     RFC 6749 §5.1, §5.2
unexpected_status       an HTTP status the spec does not allow here                           RFC 8414 §3.2
invalid_metadata        metadata without a required field, or a field of the wrong type       RFC 8414 §2, §3.2
issuer_mismatch         metadata ``issuer`` differs from the configured issuer                RFC 8414 §3.3
invalid_token_response  token response fields missing or mistyped (``token_type``, ...)       RFC 6749 §5.1
state_mismatch          the callback's ``state`` is missing or not the transaction's          RFC 6749 §10.12
missing_iss             no ``iss`` although the server advertises RFC 9207 support            RFC 9207 §2.4
iss_mismatch            ``iss`` differs from the issuer the request was sent to               RFC 9207 §2.4
invalid_callback        no ``code`` and no ``error``, or a parameter repeated                 RFC 6749 §4.1.2
transaction_used        the authorization transaction was already completed                   RFC 9700 §2.1, §4.7.1
transaction_expired     the authorization transaction is older than its 10-minute lifetime    RFC 9700 §4.7.1
invalid_id_token        an ID token missing, or failing a check (signature, iss, aud, nonce)  OIDC Core §3.1.3.7
invalid_userinfo        the userinfo answer names another ``sub`` than the ID token           OIDC Core §5.3.2
======================  ====================================================================  =====================

Transport failures are not protocol errors: they stay ``httpx`` exceptions. A sign-in through the browser that
never comes back raises the built-in :class:`TimeoutError`; a token manager with nothing to refresh raises the
built-in :class:`LookupError` (sign in first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pixie.client.models import HttpResponse

__all__ = ["PROTOCOL_VIOLATION_CODES", "ProtocolViolation", "ServerRefused", "bearer_error"]

PROTOCOL_VIOLATION_CODES: Final = frozenset(
    {
        "not_json",
        "unexpected_status",
        "invalid_metadata",
        "issuer_mismatch",
        "invalid_token_response",
        "state_mismatch",
        "missing_iss",
        "iss_mismatch",
        "invalid_callback",
        "transaction_used",
        "transaction_expired",
        "invalid_id_token",
        "invalid_userinfo",
    }
)


class ServerRefused(Exception):
    """The authorization server answered with an OAuth error: ``error`` is its code, as sent.

    ``status`` is the HTTP status of a back-channel reply (token endpoint), ``None`` for an error delivered to the
    redirect URI. ``response`` is the reply itself when there was one.

    Spec: RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1.
    """

    code: Final = "server_refused"

    def __init__(
        self,
        error: str,
        error_description: str | None = None,
        *,
        error_uri: str | None = None,
        status: int | None = None,
        response: HttpResponse | None = None,
    ) -> None:
        self.error = error
        self.error_description = error_description
        self.error_uri = error_uri
        self.status = status
        self.response = response
        detail = f": {error_description}" if error_description else ""
        super().__init__(f"the authorization server refused the request ({error}{detail})")

    def __repr__(self) -> str:
        return f"ServerRefused(error={self.error!r}, status={self.status!r})"


class ProtocolViolation(Exception):
    """The server's reply broke the spec (or cannot belong to this flow): nothing in it can be trusted.

    ``code`` is one of :data:`PROTOCOL_VIOLATION_CODES`; the message says what was wrong, never a token.
    """

    def __init__(self, code: str, message: str, *, response: HttpResponse | None = None) -> None:
        if code not in PROTOCOL_VIOLATION_CODES:
            raise ValueError(f"unknown protocol violation code {code!r}")
        self.code = code
        self.response = response
        super().__init__(message)

    def __repr__(self) -> str:
        return f"ProtocolViolation(code={self.code!r}, message={str(self)!r})"


def bearer_error(www_authenticate: str | None, schemes: tuple[str, ...] = ("bearer",)) -> str | None:
    """The ``error`` of a ``WWW-Authenticate: Bearer`` challenge (``invalid_token``, ...), else None; ``schemes``
    names the challenges read (``("bearer", "dpop")`` for a DPoP client).

    Spec: RFC 6750 §3, §3.1; RFC 9449 §7.1.
    """
    if not www_authenticate:
        return None
    scheme, _, params = www_authenticate.strip().partition(" ")
    if scheme.lower() not in schemes:
        return None
    for part in params.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "error":
            return value.strip().strip('"') or None
    return None
