"""Authorization-server metadata (RFC 8414): the document both discovery endpoints start from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pixie.resource.dpop import DEFAULT_ALGORITHMS as DPOP_ALGORITHMS

__all__ = ["metadata_document"]


def metadata_document(
    issuer: str,
    grant_types: tuple[str, ...],
    dpop_algorithms: Sequence[str] = DPOP_ALGORITHMS,
    *,
    require_pushed_requests: bool = False,
) -> dict[str, Any]:
    """The RFC 8414 §2 document for one issuer, advertising exactly Pixie's capabilities.

    Spec: RFC 8414 §2, §3; RFC 9207 §3 (``authorization_response_iss_parameter_supported``); RFC 7636 §4.3;
    RFC 9449 §5.1 (``dpop_signing_alg_values_supported``); RFC 9126 §5 (pushed authorization requests).
    """
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks.json",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "require_pushed_authorization_requests": require_pushed_requests,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": list(grant_types),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": True,
        "dpop_signing_alg_values_supported": list(dpop_algorithms),
    }
