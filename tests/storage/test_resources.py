"""ResourceStore contract, on SQLite and PostgreSQL, and the resources that requests, codes and refresh-token
families carry.

Spec: RFC 8707 §2 (resource indicators), §2.2 (a refresh names a subset of what was granted).
"""

from __future__ import annotations

import dataclasses

import pytest

from pixie.storage.interfaces import AlreadyExists, Storage
from pixie.storage.records import Resource

from . import factories as f
from .factories import NOW, OTHER, TENANT

API = "https://api.example/"
MCP = "https://mcp.example/mcp"


def _resource(identifier: str = API, tenant_id: str = TENANT, **changes: object) -> Resource:
    values: dict[str, object] = {
        "tenant_id": tenant_id,
        "identifier": identifier,
        "name": "Example API",
        "scopes": ("read", "write"),
        "created_at": NOW,
    }
    return Resource(**(values | changes))  # type: ignore[arg-type]


async def test_a_resource_round_trips_per_tenant(storage: Storage) -> None:
    await storage.resources.create(_resource(access_token_ttl=120))
    await storage.resources.create(_resource(MCP, scopes=()))
    await storage.resources.create(_resource(tenant_id=OTHER, name="Other"))
    assert await storage.resources.get(TENANT, API) == _resource(access_token_ttl=120)
    assert await storage.resources.get(TENANT, "https://api.example") is None  # identifiers compare exactly
    assert [r.identifier for r in await storage.resources.list(TENANT)] == [API, MCP]
    assert [r.name for r in await storage.resources.list(OTHER)] == ["Other"]


async def test_a_duplicate_identifier_is_refused(storage: Storage) -> None:
    await storage.resources.create(_resource())
    with pytest.raises(AlreadyExists):
        await storage.resources.create(_resource(name="again"))


async def test_get_many_returns_the_known_ones_once(storage: Storage) -> None:
    await storage.resources.create(_resource())
    await storage.resources.create(_resource(MCP))
    found = await storage.resources.get_many(TENANT, [MCP, "https://unknown.example/", API, MCP])
    assert [r.identifier for r in found] == [MCP, API]
    assert await storage.resources.get_many(OTHER, [API]) == []


async def test_update_and_delete(storage: Storage) -> None:
    await storage.resources.create(_resource())
    changed = _resource(name="Renamed", scopes=("read",), access_token_ttl=60, created_at=NOW + 5)
    assert await storage.resources.update(changed)
    assert await storage.resources.get(TENANT, API) == dataclasses.replace(changed, created_at=NOW)
    assert not await storage.resources.update(_resource(MCP))
    assert not await storage.resources.delete(OTHER, API)
    assert await storage.resources.delete(TENANT, API)
    assert await storage.resources.get(TENANT, API) is None


async def test_requests_codes_and_families_keep_their_resources(storage: Storage) -> None:
    request = f.request(resources=(API, MCP))
    await storage.requests.create(request)
    assert await storage.requests.get(TENANT, request.request_id, NOW) == request
    await storage.users.create(f.user())
    code = f.code(resources=(MCP,), consumed_at=NOW)
    assert (await storage.codes.redeem(code)).status == "redeemed"
    stored = await storage.codes.get(TENANT, code.code_hash)
    assert stored is not None and stored.resources == (MCP,)
    family = f.family(resources=(API,))
    await storage.refresh.create_family(family, f.refresh_token(family))
    assert await storage.refresh.get_family(TENANT, family.family_id) == family
