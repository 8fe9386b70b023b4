"""schemathesis against the admin API's part of ``/openapi.json`` (``/admin/api/...``), on a server of its own.

The admin API changes state (creates tenants, disables clients and users), so it gets its own seeded server: what
the fuzzer does there cannot disable the clients the other fuzzers rely on. Most requests carry a real ``pixie:admin``
token of the ``ops`` automation client (client credentials), so they reach the handlers; the others carry no token,
a garbage one, or a real token without the scope. Each response must:

* never be a 5xx;
* conform to the document: a documented status code, content type, headers and body schema;
* for 401 and 403, carry an RFC 6750 ``Bearer`` challenge with a registered error code.

Spec: RFC 6750 §3, §3.1; RFC 9068 §4.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from fuzz.oracles import BACK_CHANNEL_CHECKS, REGISTERED_ERRORS
from fuzz.support import TALLY, FuzzServer, examples
from fuzz.target import OPS_SECRET, serve_fuzz_target
from spec.support import WEB_SECRET

MAX_EXAMPLES = examples(25)  # per operation and mode
AUTH = ["admin token"] * 4 + ["no token", "garbage token", "token without pixie:admin"]


@pytest.fixture(scope="module")
def admin_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    with serve_fuzz_target(tmp_path_factory.mktemp("admin-fuzz")) as server:
        yield server
    assert TALLY.server_errors == [], TALLY.server_errors[:20]
    assert TALLY.bad_headers == [], TALLY.bad_headers[:20]


@pytest.fixture(scope="module")
def admin_api(admin_target: FuzzServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{admin_target.base}/openapi.json").include(path_regex="^/admin/api/")


@pytest.fixture(scope="module")
def tokens(admin_target: FuzzServer) -> dict[str, str]:
    with admin_target.pixie.client() as http:
        admin = http.post("/token", data={"grant_type": "client_credentials"}, auth=("ops", OPS_SECRET))
        plain = http.post("/token", data={"grant_type": "client_credentials"}, auth=("web", WEB_SECRET))
    assert admin.status_code == 200 and plain.status_code == 200, (admin.text, plain.text)
    return {"admin token": admin.json()["access_token"], "token without pixie:admin": plain.json()["access_token"]}


def _operations() -> list[Any]:
    # Collected from the admin fragment itself, so a new admin operation is fuzzed without touching this file.
    from pixie.server.endpoints.admin_api_doc import admin_api_fragment

    fragment = admin_api_fragment()
    return [
        pytest.param(method.upper(), path, mode, id=f"{method.upper()} {path} {mode.value}")
        for path, item in fragment.paths.items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "responses" in operation
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if mode is GenerationMode.POSITIVE or "requestBody" in operation or "{" in path
    ]


def check_bearer_challenge(response: schemathesis.Response) -> None:
    """RFC 6750 §3: a 401 or 403 says why in a ``Bearer`` challenge with a registered error code."""
    if response.status_code not in (401, 403):
        return
    challenge = response.headers.get("www-authenticate", [""])[0]
    assert challenge.startswith("Bearer "), challenge
    if 'error="' in challenge:
        error = challenge.split('error="', 1)[1].split('"', 1)[0]
        assert error in REGISTERED_ERRORS, challenge
    else:
        assert response.status_code == 401, challenge  # RFC 6750 §3.1: no error code only when no token was sent


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as shared:
        yield shared


@pytest.mark.parametrize(("method", "path", "mode"), _operations())
def test_admin_operation_holds_to_the_document(
    admin_api: schemathesis.BaseSchema,
    tokens: dict[str, str],
    session: requests.Session,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    operation = admin_api[path][method]
    strategy = operation.as_strategy(generation_mode=mode)
    if "{tenant}" in path:  # random names mostly meet 404; the default tenant exists, so reach the handler too
        default = operation.as_strategy(generation_mode=mode, path_parameters={"tenant": "default"})
        strategy = st.one_of(strategy, default)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(strategy, label="case")
        auth = data.draw(st.sampled_from(AUTH), label="auth")
        headers = dict(case.headers or {})
        headers.pop("Authorization", None)
        if auth == "garbage token":
            headers["Authorization"] = "Bearer " + data.draw(st.text(alphabet="abc.-_~+/=", max_size=60))
        elif auth != "no token":
            headers["Authorization"] = f"Bearer {tokens[auth]}"
        case.headers = headers
        TALLY.examples["admin api"] += 1
        response = case.call(session=session)
        case.validate_response(response, checks=BACK_CHANNEL_CHECKS)
        check_bearer_challenge(response)

    run()
