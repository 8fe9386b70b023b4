"""Grants: the OAuth protocol logic itself, as typed functions over typed values (no HTTP framework here).

One module per grant type; the token endpoint dispatches on ``grant_type`` and the metadata advertises the same list.
"""

__all__ = ["IMPLEMENTED_GRANTS"]

IMPLEMENTED_GRANTS = ("authorization_code", "refresh_token", "client_credentials")
"""The ``grant_type`` values Pixie implements (a tenant may allow fewer). Spec: RFC 6749 §4, RFC 8414 §2."""
