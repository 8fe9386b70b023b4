"""Prometheus metrics and the audit log, read from a real server after a real sign-in mix.

One alice sign-in with a wrong password first, consent, code exchange, a refresh, then the replay of the rotated
refresh token: ``/metrics`` must count exactly that, parse with Prometheus' own parser, and the audit log must hold
one JSON line per event — and no credential the test saw anywhere in it.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import Settings
from pixie.management import create_user, register_client
from pixie.server.app import open_backend
from spec.support import SPA_CB, Browser, Pixie, Pkce, authorize_pairs, hidden_fields, redirect_params, token_request

MASTER_KEY = b"observability-suite-master-key!!"
PASSWORD = "alice-observes-the-funnel"
WRONG = "definitely-not-alices-password"
SECRET = "observability-svc-secret-0123456789"


@dataclass
class Observed:
    pixie: Pixie
    audit: Path
    settings: Settings
    seen: list[str]
    """Every credential the run handled: the grep list."""


def _metric_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def _count(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(value for (key, got), value in samples.items() if key == name and wanted <= got)


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    workdir = tmp_path_factory.mktemp("observability")
    port = free_port()
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'pixie.db'}",
        issuer=f"http://127.0.0.1:{port}",
        master_key=MASTER_KEY,
        audit_log=str(workdir / "audit.jsonl"),
        metrics_labels=("tenant", "client"),
    )

    async def seed() -> None:
        async with open_backend(settings) as (storage, _):
            await register_client(
                storage, "default", "spa", redirect_uris=[SPA_CB], public=True, scopes=["properties:read"]
            )
            await register_client(
                storage,
                "default",
                "svc",
                redirect_uris=[],
                public=False,
                secret=SECRET,
                grant_types=["client_credentials"],
            )
            await create_user(storage, "default", "alice", PASSWORD)

    run_coroutine(seed())
    seen = [PASSWORD, WRONG, SECRET]
    with serve_pixie(settings) as base:
        pixie = Pixie(base=base, db_path=workdir / "pixie.db")
        with Browser(pixie) as browser:
            pkce = Pkce.new()
            page = browser.login_page(authorize_pairs(challenge=pkce.challenge))
            seen += list(hidden_fields(page.text).values())
            failed = browser.submit_login(page, "alice", WRONG)
            assert failed.status_code == 200
            consent_redirect = browser.submit_login(failed, "alice", PASSWORD)
            assert urlsplit(consent_redirect.headers["location"]).path == "/consent"
            consent = browser.follow(consent_redirect, "/consent")
            code = redirect_params(browser.submit_consent(consent), SPA_CB)["code"]
            seen += [code, pkce.verifier, *browser.http.cookies.values()]
            with pixie.client() as http:
                tokens = token_request(http, code, pkce.verifier).json()
                seen += [tokens["access_token"], tokens["refresh_token"]]
                rotated = http.post(
                    "/token",
                    data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "spa"},
                ).json()
                seen += [rotated["access_token"], rotated["refresh_token"]]
                replay = http.post(
                    "/token",
                    data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "spa"},
                )
                assert replay.json()["error"] == "invalid_grant"
                machine = http.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", SECRET))
                seen.append(machine.json()["access_token"])
        yield Observed(pixie, workdir / "audit.jsonl", settings, seen)


def test_metrics_parse_and_count_the_sign_in_mix(observed: Observed) -> None:
    with observed.pixie.client() as http:
        response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _metric_samples(response.text)
    events = "pixie_flow_events_total"
    assert _count(samples, events, kind="authorization_requested", client="spa") == 1
    assert _count(samples, events, kind="login_failed", error="invalid_credentials", tenant="default") == 1
    assert _count(samples, events, kind="login_succeeded") == 1
    assert _count(samples, events, kind="consent_granted") == 1
    assert _count(samples, events, kind="code_issued") == 1
    assert _count(samples, events, kind="refresh_reuse_detected", error="invalid_grant") == 1
    grants = "pixie_token_grants_total"
    assert _count(samples, grants, grant_type="authorization_code", outcome="success", client="spa") == 1
    assert _count(samples, grants, grant_type="refresh_token", outcome="success") == 1
    assert _count(samples, grants, grant_type="refresh_token", outcome="failure", error="invalid_grant") == 1
    assert _count(samples, grants, grant_type="client_credentials", client="svc") == 1
    assert _count(samples, "pixie_http_requests_total", endpoint="/token", method="POST") == 4
    assert _count(samples, "pixie_http_requests_total", endpoint="/login", method="POST", status="200") == 1
    assert _count(samples, "pixie_http_request_duration_seconds_count", endpoint="/token") == 4
    assert _count(samples, "pixie_events_dropped") == 0


def test_unknown_paths_share_one_series(observed: Observed) -> None:
    with observed.pixie.client() as http:
        for index in range(20):
            http.get(f"/scanner-{index}")
        samples = _metric_samples(http.get("/metrics").text)
    endpoints = {dict(labels).get("endpoint") for name, labels in samples if name == "pixie_http_requests_total"}
    assert "other" in endpoints and not any(str(e).startswith("/scanner") for e in endpoints)


def test_audit_log_has_one_json_line_per_event_with_the_flow_correlated(observed: Observed) -> None:
    deadline = time.monotonic() + 10
    while True:
        lines = [json.loads(line) for line in observed.audit.read_text().splitlines() if line]
        kinds = [line["event"] for line in lines]
        if "refresh_reuse_detected" in kinds and kinds.count("token_issued") >= 4:
            break
        assert time.monotonic() < deadline, kinds
        time.sleep(0.1)
    flow = [line for line in lines if line["event"] in ("authorization_requested", "login_failed", "code_issued")]
    assert len({line["correlation_id"] for line in flow}) == 1 and flow[0]["correlation_id"]
    assert all(line["tenant"] == "default" and line["ts"].endswith("+00:00") for line in lines)


def test_no_credential_ever_reaches_the_audit_log(observed: Observed) -> None:
    """Tokens, codes, verifiers, passwords, secrets, cookies and CSRF tokens: none appears, in any encoding."""
    text = observed.audit.read_text()
    assert text, "the audit log is empty: the check below would prove nothing"
    for secret in observed.seen:
        assert len(secret) >= 8
        for form in (secret, base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")):
            assert form not in text, f"a credential leaked into the audit log: {secret[:6]}..."


def test_metrics_refuse_strangers_and_accept_basic_credentials(observed: Observed, tmp_path: Path) -> None:
    settings = replace(
        observed.settings,
        issuer=f"http://127.0.0.1:{free_port()}",
        audit_log=None,
        metrics_allow=(),
        metrics_basic_auth="prometheus:scrape-secret-123",
    )
    with serve_pixie(settings) as base, httpx.Client(base_url=base) as http:
        refused = http.get("/metrics")
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
        assert http.get("/metrics", auth=("prometheus", "wrong")).status_code == 401
        assert http.get("/metrics", auth=("prometheus", "scrape-secret-123")).status_code == 200
    closed = replace(settings, metrics_basic_auth=None, issuer=f"http://127.0.0.1:{free_port()}")
    with serve_pixie(closed) as base, httpx.Client(base_url=base) as http:
        assert http.get("/metrics").status_code == 403
