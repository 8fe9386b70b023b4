"""A strict third-party client library (oauth4webapi, Node) accepts Pixie's responses and rejects tampered ones.

oauth4webapi validates RFC 8414 metadata (issuer equality), RFC 9207 ``iss`` on the authorization response when the
server advertises it, ``state``, and the token response shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from interop_support import browse_to_callback, serving_one_client
from interop_support import node as run_node

REDIRECT = "http://127.0.0.1:9999/cb"


def node(*args: str) -> dict[str, object]:
    return run_node("strict_client.mjs", *args)


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving_one_client(tmp_path_factory.mktemp("interop"), "interop", REDIRECT, "bob", "bob-password-1") as url:
        yield url


def _browse_to_callback(authorization_url: str) -> str:
    return browse_to_callback(authorization_url, REDIRECT, "bob", "bob-password-1")


def test_strict_client_completes_the_flow(issuer: str) -> None:
    started = node("start", issuer, "interop", REDIRECT, "properties:read")
    callback = _browse_to_callback(str(started["url"]))
    result = node("finish", issuer, "interop", REDIRECT, str(started["state"]), str(started["verifier"]), callback)
    assert result == {
        "ok": True,
        "token_type": "bearer",
        "expires_in": 300,
        "scope": "properties:read",
        "has_refresh_token": True,
    }


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("iss", '"iss"'),
        ("no-iss", '"iss"'),
        ("state", '"state"'),
    ],
)
def test_strict_client_rejects_tampered_responses(issuer: str, tamper: str, expected: str) -> None:
    """RFC 9207 §2.4: the client must reject a response whose iss is wrong or missing; RFC 6749 §10.12: state."""
    started = node("start", issuer, "interop", REDIRECT, "properties:read")
    callback = _browse_to_callback(str(started["url"]))
    parts = urlsplit(callback)
    params = dict(parse_qsl(parts.query))
    if tamper == "iss":
        params["iss"] = "http://127.0.0.1:1/evil"
    elif tamper == "no-iss":
        params.pop("iss")
    else:
        params["state"] = "not-the-state"
    tampered = parts._replace(query=urlencode(params)).geturl()
    result = node("finish", issuer, "interop", REDIRECT, str(started["state"]), str(started["verifier"]), tampered)
    rejection = str(result["rejected"])
    assert rejection.startswith("OAUTH_") and expected in rejection, rejection
