"""Pixie: an OAuth 2.1 authorization system built around the authorization-code flow with PKCE (RFC 7636).

The PKCE helpers are loaded on first use (PEP 562), so that importing any part of Pixie, such as the ``pixie``
command to print its help, does not load the cryptography they rest on.
"""

from typing import TYPE_CHECKING

from pixie.lazy import lazy_exports

if TYPE_CHECKING:
    from pixie.pkce import PKCEError, create_challenge, generate_verifier, verify

__all__ = ["PKCEError", "__version__", "create_challenge", "generate_verifier", "verify"]

__version__ = "0.1.0"

__getattr__, __dir__ = lazy_exports(
    __name__,
    dict.fromkeys(("PKCEError", "create_challenge", "generate_verifier", "verify"), "pixie.pkce"),
    globals(),
    __all__,
)
