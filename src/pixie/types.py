"""Small shared types used across layers."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

__all__ = ["ClientAuthMethod", "ClientType", "GrantType", "KeyState", "TenantId", "Timestamp"]

TenantId = str
"""A tenant's immutable name (``default`` for the default tenant); it appears in issuer paths ``/t/{name}``."""

Timestamp = float
"""Seconds since the Unix epoch (UTC). Stored as a number so SQLite and PostgreSQL compare it the same way."""

ClientType = Literal["public", "confidential"]
ClientAuthMethod = Literal["none", "client_secret_basic", "client_secret_post"]
GrantType = Literal["authorization_code", "refresh_token", "client_credentials"]


class KeyState(StrEnum):
    """Life cycle of a signing key: published before use, used, published after use, gone.

    ``next`` keys appear in the JWKS before they sign anything so that caches pick them up; ``retiring`` keys still
    appear until every token they signed has expired.
    """

    NEXT = "next"
    ACTIVE = "active"
    RETIRING = "retiring"
    RETIRED = "retired"
