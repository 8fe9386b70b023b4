"""One answer for every failed client authentication: an unknown client id, a disabled client, a confidential
client with a wrong secret or none, a public client presenting a secret — the status, the body and every header
(but ``Date``) are the same, at the token, revocation and introspection endpoints, so the answer never tells which
client ids exist.

Spec: RFC 6749 §2.3.1, §3.2.1, §5.2 (401 ``invalid_client``, ``WWW-Authenticate`` when Basic was used); RFC 7009
§2.1; RFC 7662 §2.1.
"""

from __future__ import annotations

import base64

import httpx
import pytest

FORMS = {
    "/token": {"grant_type": "client_credentials"},
    "/revoke": {"token": "not-a-token"},
    "/introspect": {"token": "not-a-token"},
}

# Client ids as the spec suite registers them: web and cc-only are confidential, spa public, disabled-app disabled.
CLIENTS = ["nobody", "web", "cc-only", "spa", "disabled-app"]


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _answer(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((name, value) for name, value in response.headers.items() if name != "date")
    return response.status_code, response.content, headers


@pytest.mark.parametrize("path", FORMS)
@pytest.mark.parametrize("method", ["basic", "post"])
def test_a_wrong_secret_and_an_unknown_client_get_the_same_answer(http: httpx.Client, path: str, method: str) -> None:
    answers = {}
    for client_id in CLIENTS:
        secret = "wrong-secret-0123456789-abcdefghijklmnop"
        if method == "basic":
            response = http.post(path, data=FORMS[path], headers=_basic(client_id, secret))
        else:
            response = http.post(path, data={**FORMS[path], "client_id": client_id, "client_secret": secret})
        answers[client_id] = _answer(response)
    status, body, headers = answers["nobody"]
    assert status == 401 and b'"invalid_client"' in body
    assert ("www-authenticate" in dict(headers)) == (method == "basic")
    assert {client_id: answer for client_id, answer in answers.items() if answer != answers["nobody"]} == {}


@pytest.mark.parametrize("path", FORMS)
def test_a_client_id_alone_gets_the_same_answer_for_unknown_and_confidential_clients(
    http: httpx.Client, path: str
) -> None:
    """RFC 6749 §3.2.1: a confidential client must authenticate; without its secret it gets exactly what an unknown
    or disabled client id gets."""
    answers = {
        client_id: _answer(http.post(path, data={**FORMS[path], "client_id": client_id}))
        for client_id in ["nobody", "web", "cc-only", "disabled-app"]
    }
    status, body, _ = answers["nobody"]
    assert status == 401 and b'"invalid_client"' in body
    assert {client_id: answer for client_id, answer in answers.items() if answer != answers["nobody"]} == {}
