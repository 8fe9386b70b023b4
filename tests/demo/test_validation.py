"""Input validation of the Property API: every refusal is a 400 (413, 415) with a message that names the problem,
and nothing is written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from demo.support import bearer
from demo.test_property_api import NEW_PROPERTY, assert_api_error
from pixie.demo.api import MAX_BODY_BYTES

VALID = {k: v for k, v in NEW_PROPERTY.items()}


def _without(name: str) -> dict[str, Any]:
    return {k: v for k, v in VALID.items() if k != name}


BAD_BODIES = [
    pytest.param(_without("city"), "city is required", id="missing-field"),
    pytest.param({**VALID, "owner": "me"}, "unknown field: owner", id="unknown-field"),
    pytest.param({**VALID, "name": ""}, "name must not be empty", id="empty-name"),
    pytest.param({**VALID, "name": "  \u2003  "}, "name must not be empty", id="blank-name"),
    pytest.param({**VALID, "name": "two\nlines"}, "name must not contain control characters", id="newline"),
    pytest.param({**VALID, "name": "x" * 121}, "name must be at most 120 characters", id="long-name"),
    pytest.param({**VALID, "address": "a" * 201}, "address must be at most 200 characters", id="long-address"),
    pytest.param({**VALID, "city": "Paris\x00"}, "city must not contain control characters", id="nul"),
    pytest.param({**VALID, "name": 42}, "name must be a string", id="name-number"),
    pytest.param({**VALID, "kind": "castle"}, "kind must be one of: apartment, house", id="bad-kind"),
    pytest.param({**VALID, "status": "sold"}, "status must be one of: available, let, maintenance", id="bad-status"),
    pytest.param({**VALID, "bedrooms": True}, "bedrooms must be a whole number", id="bool-bedrooms"),
    pytest.param({**VALID, "bedrooms": 2.5}, "bedrooms must be a whole number", id="fraction"),
    pytest.param({**VALID, "bedrooms": 21.0}, "bedrooms must be between 0 and 20", id="whole-float-too-big"),
    pytest.param({**VALID, "bedrooms": "2"}, "bedrooms must be a whole number", id="string-number"),
    pytest.param({**VALID, "bedrooms": -1}, "bedrooms must be between 0 and 20", id="negative"),
    pytest.param({**VALID, "monthly_rent": 10**12}, "monthly_rent must be between 0 and 1000000", id="huge-rent"),
    pytest.param([VALID], "the body must be a JSON object", id="array"),
    pytest.param("flat", "the body must be a JSON object", id="string"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES)
def test_bad_property_is_refused(http: httpx.Client, alice: dict[str, Any], body: object, message: str) -> None:
    before = http.get("/properties", headers=bearer(alice)).json()["total"]
    response = http.post("/properties", json=body, headers=bearer(alice))
    assert assert_api_error(response, 400, "invalid_request")["error_description"].startswith(message)
    assert http.get("/properties", headers=bearer(alice)).json()["total"] == before


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"name": NaN}', b'{"bedrooms": Infinity}', b"\xff\xfe{}", b"[" * 5000 + b"]" * 5000, b""],
    ids=["truncated", "nan", "infinity", "not-utf8", "deep-nesting", "empty"],
)
def test_malformed_json_is_refused(http: httpx.Client, alice: dict[str, Any], raw: bytes) -> None:
    headers = {**bearer(alice), "Content-Type": "application/json"}
    response = http.post("/properties", content=raw, headers=headers)
    assert assert_api_error(response, 400, "invalid_request")["error_description"] == "the body is not valid JSON"


def test_patch_checks_the_fields_it_gets(http: httpx.Client, alice: dict[str, Any]) -> None:
    target = http.get("/properties", headers=bearer(alice)).json()["properties"][0]
    item = f"/properties/{target['id']}"
    assert_api_error(http.patch(item, json={}, headers=bearer(alice)), 400, "invalid_request")
    assert_api_error(http.patch(item, json={"bedrooms": 99}, headers=bearer(alice)), 400, "invalid_request")
    assert_api_error(http.put(item, json={"bedrooms": 1}, headers=bearer(alice)), 400, "invalid_request")
    assert http.get(item, headers=bearer(alice)).json() == target


def test_only_json_is_accepted(http: httpx.Client, alice: dict[str, Any]) -> None:
    form = http.post("/properties", data={"name": "x"}, headers=bearer(alice))
    assert_api_error(form, 415, "unsupported_media_type")
    plain = http.post("/properties", content=b"{}", headers={**bearer(alice), "Content-Type": "text/plain"})
    assert_api_error(plain, 415, "unsupported_media_type")
    charset = http.post(
        "/properties",
        content=httpx.Request("POST", "/", json=VALID).content,
        headers={**bearer(alice), "Content-Type": "application/json; charset=utf-8"},
    )
    assert charset.status_code == 201, charset.text


def test_bodies_are_bounded(http: httpx.Client, alice: dict[str, Any]) -> None:
    """Announced or streamed, a body over the limit is refused with 413 before it is parsed."""
    big = b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}'
    headers = {**bearer(alice), "Content-Type": "application/json"}
    announced = http.post("/properties", content=big, headers=headers)
    assert_api_error(announced, 413, "request_too_large")

    def chunks() -> Any:
        for start in range(0, len(big), 1024):
            yield big[start : start + 1024]

    streamed = http.post("/properties", content=chunks(), headers=headers)
    assert "content-length" not in streamed.request.headers
    assert_api_error(streamed, 413, "request_too_large")


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=abc", "offset=-1", "limit=1e2", "limit=%C2%B2", "offset=9999999999"]
)
def test_bad_paging_is_refused(http: httpx.Client, alice: dict[str, Any], query: str) -> None:
    response = http.get(f"/properties?{query}", headers=bearer(alice))
    body = assert_api_error(response, 400, "invalid_request")
    assert body["error_description"].split()[0] in ("limit", "offset")
