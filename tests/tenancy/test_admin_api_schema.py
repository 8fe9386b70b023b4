"""The admin API holds to its OpenAPI document: schemathesis draws requests from the served document (valid ones
and invalid ones) and sends them with a real ``pixie:admin`` token; every answer must be a documented status with
the documented content type, headers and body schema, and never a 5xx.

Operations are drawn in small numbers (the suite's budget); ``PIXIE_FUZZ_SOAK=1`` runs fifty times as many.

Spec: OpenAPI 3.1.0; RFC 6750 §3.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tenancy.support import Server

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 12 * (50 if os.environ.get("PIXIE_FUZZ_SOAK") == "1" else 1)
# Creating users hashes passwords with Argon2id (~150 ms each, on purpose): fewer of those.
SLOW = {("POST", "/admin/api/tenants/{tenant}/users")}


@pytest.fixture(scope="module")
def api(server: Server) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{server.origin}/openapi.json")


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as shared:
        yield shared


def _operations() -> list[tuple[str, str]]:
    base = "/admin/api/tenants"
    return [
        ("GET", base),
        ("POST", base),
        ("GET", base + "/{tenant}"),
        ("PATCH", base + "/{tenant}/settings"),
        ("POST", base + "/{tenant}/disable"),
        ("GET", base + "/{tenant}/clients"),
        ("POST", base + "/{tenant}/clients"),
        ("GET", base + "/{tenant}/clients/{client_id}"),
        ("POST", base + "/{tenant}/users"),
        ("POST", base + "/{tenant}/users/{username}/disable"),
    ]


CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path in _operations()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or method in ("POST", "PATCH")
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_admin_operation_holds_to_the_document(
    api: schemathesis.BaseSchema,
    session: requests.Session,
    admin_token: str,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    strategy = api[path][method].as_strategy(generation_mode=mode)
    statuses: list[int] = []

    @settings(
        max_examples=max(3, EXAMPLES // 4) if (method, path) in SLOW else EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(strategy, label="case")
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {admin_token}"}
        if isinstance(case.path_parameters, dict) and case.path_parameters.get("tenant") == "default":
            case.path_parameters["tenant"] = "acme"  # never disable the issuer of the token in use
        response = case.call(session=session)
        case.validate_response(response, checks=CHECKS)
        assert response.headers.get("cache-control") == ["no-store"], response.headers
        statuses.append(response.status_code)

    run()
    assert statuses
