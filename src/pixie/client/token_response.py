"""The token endpoint's answer, validated into a :class:`~pixie.client.models.TokenSet` (without I/O)."""

from __future__ import annotations

import math
import time

from pixie.client.discovery import error_from, json_object
from pixie.client.dpop import DPoPKey
from pixie.client.errors import ProtocolViolation
from pixie.client.models import HttpResponse, TokenSet

__all__ = ["process_token_response"]


def process_token_response(
    response: HttpResponse,
    *,
    previous: TokenSet | None = None,
    requested_scope: str | None = None,
    now: float | None = None,
    dpop_key: DPoPKey | None = None,
) -> TokenSet:
    """Validate a token endpoint reply into a :class:`TokenSet` with an absolute expiry.

    200 with a JSON object; ``access_token`` a non-empty string; ``token_type`` Bearer (compared case-insensitively),
    or DPoP when the request carried a proof of ``dpop_key`` (the set then keeps that key);
    ``expires_in`` a non-negative number when present. ``Cache-Control`` is not checked (the server's business).
    A refresh that returns no refresh token keeps the previous one; an omitted ``scope`` means the requested one.
    Errors: an OAuth error object becomes :class:`ServerRefused`, anything else :class:`ProtocolViolation`.

    Spec: RFC 6749 §5.1, §5.2, §6, §7.1; RFC 6750 §4; RFC 9449 §5.
    """
    if response.status != 200:
        raise error_from(response)
    body = json_object(response, "token response")

    def bad(message: str) -> ProtocolViolation:
        return ProtocolViolation("invalid_token_response", message, response=response)

    access_token, token_type = body.get("access_token"), body.get("token_type")
    if not isinstance(access_token, str) or not access_token:
        raise bad("access_token is missing or not a string")
    bound = dpop_key is not None and isinstance(token_type, str) and token_type.lower() == "dpop"
    if not bound and (not isinstance(token_type, str) or token_type.lower() != "bearer"):
        raise bad(f"token_type {str(token_type)[:40]!r} is not Bearer (RFC 6750) nor DPoP for a DPoP request")
    expires_in = body.get("expires_in")
    if expires_in is not None and (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int | float)
        or not math.isfinite(expires_in)
        or expires_in < 0
    ):
        raise bad(f"expires_in {str(expires_in)[:40]!r} is not a non-negative number")
    refresh_token, scope = body.get("refresh_token"), body.get("scope")
    if refresh_token is not None and (not isinstance(refresh_token, str) or not refresh_token):
        raise bad("refresh_token is not a string")
    if scope is not None and not isinstance(scope, str):
        raise bad("scope is not a string")
    received = time.time() if now is None else now
    if refresh_token is None and previous is not None:
        refresh_token = previous.refresh_token
    if scope is None:
        scope = requested_scope or (previous.scope if previous is not None else None)
    return TokenSet(
        access_token=access_token,
        token_type="DPoP" if bound else "Bearer",
        expires_at=None if expires_in is None else received + float(expires_in),
        refresh_token=refresh_token,
        scope=scope,
        issued_at=received,
        raw=body,
        dpop_key=dpop_key.to_jwk() if bound and dpop_key is not None else None,
    )
