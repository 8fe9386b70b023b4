"""schemathesis against Pixie's own OpenAPI document (``GET /openapi.json``), on a real server with real clients.

Every documented operation is fuzzed twice: with requests the document allows (positive) and with requests it
forbids (negative: wrong types, missing fields, stray bytes). A share of the generated requests is given real
credentials and real codes, refresh and access tokens, so the grant, revocation and introspection code runs, not
only client authentication. Each response must:

* never be a 5xx;
* conform to the document: a documented status code, content type, headers and body schema;
* when it is an error, be an RFC 6749 §5.2 error object (registered ``error``, ``error_description`` in the allowed
  characters) with ``Cache-Control: no-store``; a 401 after Basic credentials carries ``WWW-Authenticate``;
* when it carries a token (token, introspection, revocation answers), have ``Cache-Control: no-store``.

The schemathesis pytest plugin is not used (no ``@schema.parametrize``): the operations come from the served
document, which exists only once the server runs, so each test draws cases from ``as_strategy()`` under its own
``@given``. That also keeps the plugin's subtest machinery out of the way of ``filterwarnings = error`` — no
warning filter is needed (the plugin's import raises no warning under pytest 9; checked when it was added).

Spec: RFC 6749 §5.1–§5.2, RFC 7009 §2, RFC 7662 §2, RFC 8414 §3, RFC 7517 §5.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from fuzz.oracles import check_back_channel
from fuzz.support import TALLY, FuzzServer, examples
from spec.support import SPA_CB, WEB_CB, WEB_SECRET

OPERATIONS = [
    ("POST", "/token"),
    ("POST", "/revoke"),
    ("POST", "/introspect"),
    ("GET", "/.well-known/oauth-authorization-server"),
    ("GET", "/jwks.json"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/openapi.json"),
]
# Per operation and mode. The GET operations take no input, so hypothesis runs out of distinct cases long before.
MAX_EXAMPLES = examples(100)

# How a generated request authenticates: as generated, or as one of the real clients (or a near miss).
AUTH = ["as generated", "public spa", "basic web", "post web", "basic wrong secret", "basic malformed"]
# What it presents: as generated, or a real code / refresh token / access token.
GRANTS = ["as generated", "real code", "real refresh token", "real access token"]


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


class RealTokens:
    """Real tokens on demand. Codes are single-use, so each one is minted when asked for; refresh and access
    tokens come from a small pool refilled as the fuzzer rotates or revokes them."""

    def __init__(self, server: FuzzServer) -> None:
        self.server = server
        self._refresh = itertools.count()

    def code(self, client_id: str) -> tuple[str, str, str]:
        redirect_uri = WEB_CB if client_id == "web" else SPA_CB
        code, verifier = self.server.mint_code(client_id, redirect_uri)
        return code, verifier, redirect_uri

    def refresh_token(self) -> str:
        token: str = self.server.mint_tokens()["refresh_token"]
        return token

    def access_token(self) -> str:
        return self.server.client_credentials_token()


@pytest.fixture(scope="module")
def api(fuzz_server: FuzzServer) -> schemathesis.BaseSchema:
    """The document as the server serves it (loading it is the first check: it must be valid OpenAPI 3.1)."""
    return schemathesis.openapi.from_url(f"{fuzz_server.base}/openapi.json")


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as shared:
        yield shared


def _apply(case: Any, auth: str, grant: str, tokens: RealTokens) -> bool:
    """Give the generated request real credentials and tokens; return whether Basic credentials were sent."""
    body = case.body if isinstance(case.body, dict) else None
    headers = dict(case.headers or {})
    if auth != "as generated":
        headers.pop("Authorization", None)
        if body is not None:
            body.pop("client_secret", None)
            body.pop("client_id", None)
    if auth == "basic web":
        headers["Authorization"] = _basic("web", WEB_SECRET)
    elif auth == "basic wrong secret":
        headers["Authorization"] = _basic("web", "not-the-secret")
    elif auth == "basic malformed":
        headers["Authorization"] = "Basic %%%not-base64"
    elif body is not None and auth == "public spa":
        body["client_id"] = "spa"
    elif body is not None and auth == "post web":
        body.update({"client_id": "web", "client_secret": WEB_SECRET})
    if body is not None and grant != "as generated":
        client_id = "web" if "web" in auth else "spa"
        if case.path == "/token" and grant == "real code":
            code, verifier, redirect_uri = tokens.code(client_id)
            body.update({"code": code, "code_verifier": verifier, "redirect_uri": redirect_uri})
        elif case.path == "/token" and grant == "real refresh token":
            body["refresh_token"] = tokens.refresh_token()
        elif case.path != "/token":
            body["token"] = tokens.access_token() if grant == "real access token" else tokens.refresh_token()
    case.headers = headers
    return "Authorization" in headers and auth != "as generated" and auth != "public spa"


# GET operations take no input: there is nothing to make invalid, so they run in positive mode only.
CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if method == "POST" or mode is GenerationMode.POSITIVE
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_operation_holds_to_the_document(
    api: schemathesis.BaseSchema,
    fuzz_server: FuzzServer,
    session: requests.Session,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    operation = api[path][method]
    strategy = operation.as_strategy(generation_mode=mode)
    tokens = RealTokens(fuzz_server)
    post = method == "POST"

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(strategy, label="case")
        basic_sent = False
        if post:
            auth = data.draw(st.sampled_from(AUTH), label="auth")
            grant = data.draw(st.sampled_from(GRANTS), label="grant")
            basic_sent = _apply(case, auth, grant, tokens)
        TALLY.examples["schemathesis"] += 1
        response = case.call(session=session)
        check_back_channel(case, response, basic_sent=basic_sent)

    run()
