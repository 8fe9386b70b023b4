"""Issue 7 items 2 and 4: a disabled tenant answers 404 on every endpoint; the tenant cache applies a change made
through this process at once, and one made elsewhere (the CLI, another instance) within its 10-second lifetime.

Spec: RFC 8414 §3 (no metadata for an issuer that is not served).
"""

from __future__ import annotations

import base64
import secrets
import time
from pathlib import Path

import httpx

from livesupport import cli_env, run_pixie
from pixie.storage.records import Tenant
from pixie.storage.schema import open_storage
from pixie.tenancy import TenantResolver
from spec.support import assert_json_error, authorize_pairs
from tenancy.conftest import MASTER_KEY
from tenancy.support import SPA_CB, AdminApi, Server, wait_for_status


def _tenant_with_client(admin: AdminApi) -> str:
    name = f"gone-{secrets.token_hex(3)}"
    admin.ok("POST", "/tenants", {"name": name}, status=201)
    body = {"client_id": "app", "public": True, "redirect_uris": [SPA_CB]}
    admin.ok("POST", f"/tenants/{name}/clients", body, status=201)
    return name


def _endpoints(name: str) -> list[tuple[str, str]]:
    query = httpx.QueryParams(authorize_pairs(client_id="app"))
    return [
        ("GET", f"/.well-known/oauth-authorization-server/t/{name}"),
        ("GET", f"/t/{name}/.well-known/oauth-authorization-server"),
        ("GET", f"/t/{name}/jwks.json"),
        ("GET", f"/t/{name}/authorize?{query}"),
        ("POST", f"/t/{name}/token"),
        ("POST", f"/t/{name}/revoke"),
        ("POST", f"/t/{name}/introspect"),
        ("GET", f"/t/{name}/login?request=x"),
        ("GET", f"/t/{name}/consent?request=x"),
        ("GET", f"/t/{name}/theme.css"),
    ]


def test_disabled_through_the_api_is_404_everywhere_at_once(http: httpx.Client, admin: AdminApi) -> None:
    """Disabling through the admin API drops this process's cached entry: the very next request is 404."""
    name = _tenant_with_client(admin)
    for method, path in _endpoints(name):  # served (and now cached as enabled)
        assert http.request(method, path).status_code != 404, path
    admin.ok("POST", f"/tenants/{name}/disable")
    for method, path in _endpoints(name):
        assert_json_error(http.request(method, path), "invalid_request", status=404)
    data = {"grant_type": "client_credentials", "client_id": "app"}
    assert_json_error(http.post(f"/t/{name}/token", data=data), "invalid_request", status=404)
    admin.ok("POST", f"/tenants/{name}/enable")
    assert http.get(f"/t/{name}/jwks.json").status_code == 200


def test_disabled_from_another_process_applies_within_seconds(
    server: Server, http: httpx.Client, admin: AdminApi, tmp_path: Path
) -> None:
    """``pixie tenants disable`` in another process cannot reach this server's cache; the trigger-written change it
    leaves in ``directory_changes`` does: the server reads the feed every second and answers 404 from then on."""
    name = _tenant_with_client(admin)
    metadata = f"/t/{name}/.well-known/oauth-authorization-server"
    assert http.get(metadata).status_code == 200  # cached now
    key = base64.urlsafe_b64encode(MASTER_KEY).decode("ascii")
    env = cli_env(tmp_path, f"sqlite:///{server.db_path}", {"PIXIE_SECRET_KEY": key})
    result = run_pixie(["tenants", "disable", name], env)
    assert result.returncode == 0, result.stderr
    done = time.monotonic()
    waited = wait_for_status(http, metadata, 404, within=15)
    assert time.monotonic() - done <= 3, "the server should follow the change feed (read every second)"
    assert waited >= 0


async def test_resolver_cache_lifetime_and_invalidation(sqlite_url: str) -> None:
    """The resolver serves from its cache until ``ttl`` passes, drops an entry on ``invalidate``, and caches
    unknown names too (so probing made-up names costs one read each per lifetime), within ``max_entries``."""
    async with open_storage(sqlite_url) as storage:
        now = [1000.0]
        resolver = TenantResolver(storage.tenants, ttl=10.0, max_entries=3, clock=lambda: now[0])
        await storage.tenants.create(Tenant(id="t1", display_name="T1", created_at=now[0]))
        assert (await resolver.resolve("t1")) is not None
        await storage.tenants.set_disabled("t1", True)
        now[0] += 9.9
        assert (await resolver.resolve("t1")) is not None  # stale, within the lifetime
        now[0] += 0.2
        assert (await resolver.resolve("t1")) is None  # expired: read again
        await storage.tenants.set_disabled("t1", False)
        assert (await resolver.resolve("t1")) is None  # disabled is cached too...
        resolver.invalidate("t1")
        assert (await resolver.resolve("t1")) is not None  # ...until this process says otherwise
        await storage.tenants.set_disabled("t1", True)
        assert (await resolver.resolve("t1")) is not None  # cached
        for probe in ("p1", "p2", "p3"):  # made-up names fill the bounded cache, which starts over
            assert (await resolver.resolve(probe)) is None
        assert (await resolver.resolve("t1")) is None  # t1 was dropped with the rest and read afresh
