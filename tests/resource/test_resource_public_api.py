"""``pixie.resource`` re-exports exactly its public names, sorted (STYLE §9)."""

from __future__ import annotations

import pixie.resource


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(pixie.resource) if not name.startswith("_")}
    modules = {"introspection", "jwks_cache", "jws", "middleware", "verifier", "fastapi", "gateway"}
    assert set(pixie.resource.__all__) == public - modules
    assert pixie.resource.__all__ == sorted(pixie.resource.__all__)
    assert set(pixie.resource.__all__) == {
        "AccessToken",
        "BearerAuthMiddleware",
        "IntrospectionVerifier",
        "JWKSCache",
        "JWTVerifier",
        "TokenVerifier",
        "requires_scopes",
    }
