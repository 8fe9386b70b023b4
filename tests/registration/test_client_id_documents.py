"""Client ID Metadata Documents: an https URL as ``client_id``, over real HTTP.

The documents are served by a small Starlette app on loopback. A public certificate for 127.0.0.1 is not to be had,
so tenant ``docs`` uses the development setting ``insecure_client_metadata_loopback`` (http on loopback allowed);
tenant ``strict`` has the production rules, under which the same loopback URLs are refused before any connection
is made. The address, size, time, redirect and caching rules are the same code either way.

Spec: draft-ietf-oauth-client-id-metadata-document §3, §4, §4.1, §6.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from interop.interop_support import browse_to_callback
from livesupport import free_port, serve_in_thread
from pixie.server.client_documents import fetch_document
from pixie.server.protocol.client_id_documents import (
    MAX_CACHE_SECONDS,
    DocumentRefused,
    address_allowed,
    cache_lifetime,
    check_client_id_url,
)

from .conftest import PASSWORD, Server

CB = "http://127.0.0.1:8765/callback"


@dataclass
class Documents:
    base: str
    hits: dict[str, int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"{self.base}/clients/{name}"


def _document_app(hits: dict[str, int], base: list[str]) -> Starlette:
    async def serve(request: Request) -> Response:
        name = request.path_params["name"]
        hits[name] = hits.get(name, 0) + 1
        url = f"{base[0]}/clients/{name}"
        document = {"client_id": url, "client_name": "Doc Client", "redirect_uris": [CB], "scope": "notes:read"}
        if name == "cached":
            return JSONResponse(document, headers={"Cache-Control": "public, max-age=60"})
        if name == "uncached":
            return JSONResponse(document, headers={"Cache-Control": "no-store"})
        if name == "wrong-id":
            return JSONResponse({**document, "client_id": f"{base[0]}/clients/other"})
        if name == "secret":
            return JSONResponse({**document, "client_secret": "s3cret"})
        if name == "basic":
            return JSONResponse({**document, "token_endpoint_auth_method": "client_secret_basic"})
        if name == "bad-uri":
            return JSONResponse({**document, "redirect_uris": ["http://evil.example/cb"]})
        if name == "big":
            return JSONResponse({**document, "padding": "x" * 6000})
        if name == "slow":
            await asyncio.sleep(3)
            return JSONResponse(document)
        if name == "moved":
            return RedirectResponse(f"{base[0]}/clients/cached", status_code=302)
        if name == "html":
            return Response("<html></html>", media_type="text/html")
        if name == "plain":
            return JSONResponse(document)
        return JSONResponse({"error": "not found"}, status_code=404)

    return Starlette(routes=[Route("/clients/{name}", serve)])


@pytest.fixture(scope="module")
def documents() -> Iterator[Documents]:
    hits: dict[str, int] = {}
    port = free_port()
    base = [f"http://127.0.0.1:{port}"]
    with serve_in_thread(_document_app(hits, base), port) as url:
        yield Documents(base=url, hits=hits)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize_url(server: Server, tenant: str, client_id: str, challenge: str) -> str:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CB,
            "scope": "notes:read",
            "state": "st",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{server.base}/t/{tenant}/authorize?{query}"


def test_a_document_client_signs_in_and_its_document_is_cached(server: Server, documents: Documents) -> None:
    """§4.1: fetched when first seen, then served from the cache for its max-age (one fetch for the whole flow)."""
    client_id = documents.url("cached")
    verifier, challenge = _pkce()
    location = browse_to_callback(_authorize_url(server, "docs", client_id, challenge), CB, "alice", PASSWORD)
    code = parse_qs(urlsplit(location).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CB, "client_id": client_id}
    tokens = httpx.post(f"{server.base}/t/docs/token", data={**form, "code_verifier": verifier})
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "notes:read"
    assert documents.hits["cached"] == 1
    assert server.row("SELECT 1 FROM clients WHERE client_id = ?", client_id) is None  # nothing stored


def test_a_document_that_forbids_caching_is_fetched_again(server: Server, documents: Documents) -> None:
    _, challenge = _pkce()
    for _ in range(2):
        page = httpx.get(_authorize_url(server, "docs", documents.url("uncached"), challenge))
        assert page.status_code == 303, page.text[:200]
    assert documents.hits["uncached"] == 2


@pytest.mark.parametrize("name", ["wrong-id", "secret", "basic", "bad-uri", "big", "moved", "html", "missing"])
def test_an_unusable_document_makes_an_unknown_client(server: Server, documents: Documents, name: str) -> None:
    """§4: client_id equal to the URL, no secret, public; §6: size cap, no redirects; a refused document is an
    unknown client, shown on Pixie's own error page and never redirected."""
    _, challenge = _pkce()
    page = httpx.get(_authorize_url(server, "docs", documents.url(name), challenge))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "unknown client" in page.text


def test_production_rules_refuse_loopback_before_connecting(server: Server, documents: Documents) -> None:
    """§6: without the development setting, neither http nor a loopback address is fetched from."""
    before = dict(documents.hits)
    _, challenge = _pkce()
    page = httpx.get(_authorize_url(server, "strict", documents.url("plain"), challenge))
    assert page.status_code == 400 and "unknown client" in page.text
    assert documents.hits == before


def test_discovery_advertises_documents_only_where_on(server: Server) -> None:
    on = httpx.get(f"{server.base}/t/docs/.well-known/oauth-authorization-server").json()
    assert on["client_id_metadata_document_supported"] is True
    off = httpx.get(f"{server.base}/.well-known/oauth-authorization-server").json()
    assert "client_id_metadata_document_supported" not in off


async def test_fetching_gives_up_after_the_time_limit(documents: Documents) -> None:
    with pytest.raises(DocumentRefused, match="did not arrive"):
        await fetch_document(documents.url("slow"), allow_loopback=True, timeout=0.5)


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost/client.json",
        "https://127.0.0.1/client.json",
        "https://[::1]/client.json",
        "https://10.1.2.3/client.json",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:127.0.0.1]/client.json",
        "https://0.0.0.0/client.json",
    ],
)
async def test_non_global_addresses_are_refused_without_connecting(url: str) -> None:
    """§6: every resolved address is checked before any connection (10.1.2.3 would otherwise hang until timeout)."""
    with pytest.raises(DocumentRefused, match="address Pixie does not fetch from"):
        await fetch_document(url, timeout=2)


@pytest.mark.parametrize(
    "url",
    [
        "http://app.example/client.json",
        "https://app.example",
        "https://app.example/",
        "https://app.example/a/../client.json",
        "https://app.example/./client.json",
        "https://app.example/client.json#frag",
        "https://user@app.example/client.json",
        "https://app.example/client json",
        "https://app.example/" + "a" * 2000,
        "http://127.0.0.1/client.json",
    ],
)
def test_client_id_url_rules(url: str) -> None:
    """§3: https, a path without dot segments, no fragment, no user information."""
    with pytest.raises(DocumentRefused):
        check_client_id_url(url)


def test_loopback_http_only_with_the_development_setting() -> None:
    assert check_client_id_url("http://127.0.0.1:9/c.json", allow_loopback_http=True) == "127.0.0.1"
    with pytest.raises(DocumentRefused):
        check_client_id_url("http://app.example/c.json", allow_loopback_http=True)
    assert address_allowed("127.0.0.1", allow_loopback=True)
    assert not address_allowed("10.0.0.1", allow_loopback=True)
    assert address_allowed("93.184.216.34") and address_allowed("2606:2800:220:1::1")
    assert not any(address_allowed(a) for a in ("192.168.1.1", "fe80::1", "224.0.0.1", "fc00::1", "100.64.0.1"))


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, 300),
        ("max-age=60", 60),
        ("public, max-age=0", 0),
        ("no-store", 0),
        ("no-cache, max-age=600", 0),
        ("max-age=999999999", MAX_CACHE_SECONDS),
        ('public, s-maxage="120"', 120),
        ("private", 300),
    ],
)
def test_cache_lifetime_honours_cache_control_up_to_a_day(header: str | None, seconds: int) -> None:
    """RFC 9111 §5.2.2; §4.1: a cached document is at most 24 h old."""
    assert cache_lifetime(header) == seconds


def test_documents_are_json(documents: Documents) -> None:
    assert json.loads(httpx.get(documents.url("plain")).text)["client_id"] == documents.url("plain")


def test_a_registration_read_never_fetches_a_document(server: Server, documents: Documents) -> None:
    """RFC 7592 reads name self-registered clients only: a document URL there (its slashes end the path segment, or
    the handler turns it away) is never fetched."""
    before = dict(documents.hits)
    url = f"{server.base}/t/docs/register/{quote(documents.url('plain'), safe='')}"
    response = httpx.get(url, headers={"Authorization": "Bearer anything"})
    assert response.status_code in (401, 404), response.text
    assert documents.hits == before
