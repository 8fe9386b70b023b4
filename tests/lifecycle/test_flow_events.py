"""Every step of a flow leaves an event, and one correlation id follows the flow from /authorize to /token."""

from __future__ import annotations

import json
import time

import httpx

from lifecycle.support import authorize_tokens
from spec.support import Browser, Pixie


def test_sso_flow_events_share_one_correlation_id(alice: Browser, http: httpx.Client, pixie: Pixie) -> None:
    authorize_tokens(alice, http)
    issued_after = time.time()
    authorize_tokens(alice, http)
    deadline = time.monotonic() + 5
    rows: list[tuple[object, ...]] = []
    while time.monotonic() < deadline:
        rows = pixie.query(
            "SELECT kind, correlation_id, outcome, detail FROM events WHERE client_id = 'app' AND created_at >= ?"
            " AND kind IN ('authorization_requested', 'code_issued', 'token_issued') ORDER BY created_at, id",
            (issued_after,),
        )
        if len(rows) >= 3:
            break
        time.sleep(0.1)
    assert [r[0] for r in rows[:3]] == ["authorization_requested", "code_issued", "token_issued"]
    correlation = {r[1] for r in rows[:3]}
    assert len(correlation) == 1 and None not in correlation
    assert all(r[2] == "success" for r in rows[:3])
    assert json.loads(str(rows[2][3])) == {"grant_type": "authorization_code"}


def test_failed_token_request_is_recorded(http: httpx.Client, pixie: Pixie) -> None:
    since = time.time()
    response = http.post(
        "/token",
        data={"grant_type": "authorization_code", "code": "nope", "code_verifier": "x" * 43, "client_id": "app"},
    )
    assert response.status_code == 400
    deadline = time.monotonic() + 5
    rows: list[tuple[object, ...]] = []
    while not rows and time.monotonic() < deadline:
        time.sleep(0.1)
        rows = pixie.query(
            "SELECT outcome, error FROM events WHERE kind = 'token_issued' AND client_id = 'app' AND created_at >= ?"
            " AND outcome = 'failure'",
            (since,),
        )
    assert rows == [("failure", "invalid_grant")]
