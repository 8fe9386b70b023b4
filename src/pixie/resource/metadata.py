"""OAuth 2.0 Protected Resource Metadata (RFC 9728): what a resource server tells clients about itself.

A client that gets a 401 from an API finds, in the ``WWW-Authenticate`` challenge's ``resource_metadata``
parameter, the URL of a JSON document naming the resource's identifier, the authorization servers that issue its
tokens, the scopes it understands and how it takes a token. From there it discovers the authorization server (RFC
8414) and asks it for a token for this resource (RFC 8707 ``resource``). MCP clients sign in exactly so.

:class:`ResourceMetadata` holds what a resource is configured with and renders the document; it is framework-free
and shared by :class:`~pixie.resource.middleware.BearerAuthMiddleware`, :mod:`pixie.resource.fastapi` and
``pixie gateway``.

Spec: RFC 9728 §2 (the document), §3 and §3.1 (where it is served), §3.3 (``resource`` must equal the identifier
the client used), §5.1 (``resource_metadata`` in challenges).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from pixie.errors import Rendered

__all__ = ["WELL_KNOWN", "ResourceMetadata"]

WELL_KNOWN = "/.well-known/oauth-protected-resource"


@dataclass(frozen=True)
class ResourceMetadata:
    """A protected resource's metadata.

    ``resource`` is the resource's identifier: an https URL (http only on loopback, for development) without
    query or fragment, the same string clients send as RFC 8707 ``resource`` and that the tokens carry as
    ``aud``. ``authorization_servers`` are the issuers whose tokens it accepts. ``dpop_signing_alg_values_supported``
    is set when DPoP-bound tokens are accepted.

    Spec: RFC 9728 §2, §1.2 (identifier syntax).
    """

    resource: str
    authorization_servers: tuple[str, ...]
    scopes_supported: tuple[str, ...] = ()
    bearer_methods_supported: tuple[str, ...] = ("header",)
    resource_name: str | None = None
    dpop_signing_alg_values_supported: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        parts = urlsplit(self.resource)
        loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError(f"resource {self.resource!r} must be an https URL (http only on loopback)")
        if not parts.hostname or parts.query or parts.fragment or "#" in self.resource or "?" in self.resource:
            raise ValueError(f"resource {self.resource!r} must be a URL with a host and no query or fragment")
        if not self.authorization_servers:
            raise ValueError("a protected resource names at least one authorization server")

    @classmethod
    def of(
        cls,
        resource: str,
        authorization_servers: str | Sequence[str],
        *,
        scopes_supported: Sequence[str] = (),
        resource_name: str | None = None,
    ) -> ResourceMetadata:
        """The metadata of ``resource``, whose tokens come from ``authorization_servers`` (one issuer or several)."""
        servers = (authorization_servers,) if isinstance(authorization_servers, str) else tuple(authorization_servers)
        return cls(
            resource=resource,
            authorization_servers=servers,
            scopes_supported=tuple(dict.fromkeys(scopes_supported)),
            resource_name=resource_name,
        )

    def with_dpop(self, algorithms: Sequence[str]) -> ResourceMetadata:
        """The same metadata, saying that DPoP proofs signed with ``algorithms`` are accepted (RFC 9449 §5.1)."""
        return replace(self, dpop_signing_alg_values_supported=tuple(algorithms))

    @property
    def path(self) -> str:
        """Where the document is served on the resource's host: ``/.well-known/oauth-protected-resource``, followed
        by the resource's path when it has one (``https://api.example/mcp`` → ``…/oauth-protected-resource/mcp``).

        Spec: RFC 9728 §3.1 (the well-known suffix inserted between host and path; a terminating slash removed).
        """
        return WELL_KNOWN + urlsplit(self.resource).path.rstrip("/")

    @property
    def url(self) -> str:
        """The document's absolute URL, as ``resource_metadata`` names it in challenges (RFC 9728 §5.1)."""
        parts = urlsplit(self.resource)
        return f"{parts.scheme}://{parts.netloc}{self.path}"

    def serves(self, path: str) -> bool:
        """Whether a request for ``path`` asks for this document: the path-suffixed form, or (for a resource at a
        path) the host's plain form, which some clients try first."""
        return path in (self.path, WELL_KNOWN)

    def document(self) -> dict[str, object]:
        """The JSON object of RFC 9728 §2 (empty lists and unset names left out)."""
        data: dict[str, object] = {
            "resource": self.resource,
            "authorization_servers": list(self.authorization_servers),
            "bearer_methods_supported": list(self.bearer_methods_supported),
        }
        if self.scopes_supported:
            data["scopes_supported"] = list(self.scopes_supported)
        if self.resource_name:
            data["resource_name"] = self.resource_name
        if self.dpop_signing_alg_values_supported:
            data["dpop_signing_alg_values_supported"] = list(self.dpop_signing_alg_values_supported)
        return data

    def render(self, method: str = "GET") -> Rendered:
        """The HTTP answer to a request for the document: 200 with the JSON for ``GET`` (no body for ``HEAD``),
        405 for other methods. It is public and the same for everyone, so any origin may read it (browser-based
        clients discover resources too) and caches may keep it a few minutes.

        Spec: RFC 9728 §3.2 (200, ``application/json``).
        """
        if method not in ("GET", "HEAD"):
            body = json.dumps({"error": "invalid_request", "error_description": "use GET"}).encode("utf-8")
            return Rendered(405, body, {"Content-Type": "application/json", "Allow": "GET, HEAD"})
        body = json.dumps(self.document()).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "Cache-Control": "public, max-age=300",
            "Access-Control-Allow-Origin": "*",
        }
        return Rendered(200, b"" if method == "HEAD" else body, headers)
