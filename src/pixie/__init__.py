"""Pixie: an OAuth 2.1 authorization system built around the authorization-code flow with PKCE (RFC 7636)."""

from pixie.pkce import PKCEError, create_challenge, generate_verifier, verify

__all__ = ["PKCEError", "__version__", "create_challenge", "generate_verifier", "verify"]

__version__ = "0.1.0"
