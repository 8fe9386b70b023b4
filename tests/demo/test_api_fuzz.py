"""schemathesis against the Property API's own OpenAPI document, on a demo server of its own with alice's real
token.

Loading the served document through schemathesis is the check that it is valid OpenAPI 3.1. Then every operation
gets requests the document allows (positive) and, where there is input, requests it forbids (negative: wrong
types, missing or unknown fields, out-of-range numbers). Each response must never be a 5xx, must have a status,
content type and body the document declares, must accept what the document allows and refuse what it forbids, and
every error must be the API's one JSON shape, never cached.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from demo.support import Demo, bearer, running_demo, sign_in_tokens
from demo.test_property_api import NEW_PROPERTY
from fuzz.support import examples

OPERATIONS = [
    ("GET", "/properties"),
    ("POST", "/properties"),
    ("GET", "/properties/{propertyId}"),
    ("PUT", "/properties/{propertyId}"),
    ("PATCH", "/properties/{propertyId}"),
    ("GET", "/tenants"),
]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    positive_data_acceptance,  # what the document allows is accepted (2xx, or 404 for an unknown id) ...
    negative_data_rejection,  # ... and what it forbids is refused: the document states the validation exactly
]
MAX_EXAMPLES = examples(40)
# GET /tenants takes no input: nothing to make invalid.
CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if path != "/tenants" or mode is GenerationMode.POSITIVE
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A demo server of its own: the fuzzer rewrites whatever properties its ids hit."""
    with running_demo(tmp_path_factory.mktemp("fuzzed")) as running:
        yield running


@pytest.fixture(scope="module")
def token(fuzzed: Demo) -> dict[str, Any]:
    return sign_in_tokens(fuzzed, "alice")


@pytest.fixture(scope="module")
def api(fuzzed: Demo) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed.api}/openapi.json")


@pytest.fixture(scope="module")
def target(fuzzed: Demo, token: dict[str, Any]) -> int:
    created = httpx.post(f"{fuzzed.api}/properties", json=NEW_PROPERTY, headers=bearer(token))
    assert created.status_code == 201, created.text
    identifier: int = created.json()["id"]
    return identifier


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as shared:
        yield shared


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_operation_holds_to_the_document(
    api: schemathesis.BaseSchema,
    session: requests.Session,
    token: dict[str, Any],
    target: int,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    strategy = api[path][method].as_strategy(generation_mode=mode)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(strategy, label="case")
        case.headers = {**(case.headers or {}), **bearer(token)}
        if "propertyId" in (case.path_parameters or {}) and data.draw(st.booleans(), label="existing id"):
            case.path_parameters["propertyId"] = target  # an existing property, so updates really run
        response = case.call(session=session)
        case.validate_response(response, checks=CHECKS)
        if response.status_code >= 400:
            headers = httpx.Headers([(k, v) for k, values in response.headers.items() for v in values])
            assert headers["content-type"].startswith("application/json") and headers["cache-control"] == "no-store"
            body = response.json()
            assert set(body) == {"error", "error_description"} and body["error_description"], body

    run()
