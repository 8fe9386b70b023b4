"""``pixie.resource`` re-exports exactly its public names, sorted (STYLE §9)."""

from __future__ import annotations

import inspect

import pixie.resource


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name in dir(pixie.resource)
        if not name.startswith("_")
        and not inspect.ismodule(getattr(pixie.resource, name))
        and name not in {"annotations", "TYPE_CHECKING"}
    }
    assert set(pixie.resource.__all__) == public
    assert pixie.resource.__all__ == sorted(pixie.resource.__all__)
    assert set(pixie.resource.__all__) == {
        "AccessToken",
        "BearerAuthMiddleware",
        "CorsMiddleware",
        "IntrospectionVerifier",
        "JWKSCache",
        "JWTVerifier",
        "ResourceMetadata",
        "TokenVerifier",
        "requires_scopes",
    }
