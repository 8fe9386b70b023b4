"""Webhooks end to end: ``pixie webhooks add`` registers real receivers on loopback, a real server delivers signed
events to them, retries a flaky one with back-off, and stays fast while another hangs.

Spec: issue 8 (signed, timestamped, retried deliveries; a failing endpoint never slows sign-ins).
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livesupport import cli_env, free_port, run_coroutine, run_pixie, serve_in_thread, serve_pixie
from pixie.config import Settings
from pixie.management import register_client
from pixie.server.app import open_backend
from pixie.webhooks import SIGNATURE_HEADER, sign, verify_signature

MASTER = b"webhook-suite-master-key-32bytes"
SECRET = "webhook-suite-client-secret-0123456789"


@dataclass
class Received:
    deliveries: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, request_headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.deliveries.setdefault(name, []).append((request_headers, body))
            return len(self.deliveries[name])

    def of(self, name: str) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return list(self.deliveries.get(name, []))


def _receiver(received: Received) -> Starlette:
    async def ok(request: Request) -> Response:
        received.add("ok", dict(request.headers), await request.body())
        return Response(status_code=204)

    async def flaky(request: Request) -> Response:
        count = received.add("flaky", dict(request.headers), await request.body())
        return Response(status_code=503 if count <= 2 else 200)

    async def hang(request: Request) -> Response:
        received.add("hang", dict(request.headers), await request.body())
        await asyncio.sleep(4)  # longer than the token requests below take, short enough to stop quickly
        return Response(status_code=200)

    return Starlette(routes=[Route(f"/{f.__name__}", f, methods=["POST"]) for f in (ok, flaky, hang)])


@dataclass
class Setup:
    base: str
    received: Received
    secrets: dict[str, str]
    env: dict[str, str]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    workdir = tmp_path_factory.mktemp("webhooks")
    database_url = f"sqlite:///{workdir / 'pixie.db'}"
    port, receiver_port = free_port(), free_port()
    settings = Settings(
        database_url=database_url,
        issuer=f"http://127.0.0.1:{port}",
        master_key=MASTER,
        audit_log=None,
        webhook_backoff=0.05,
    )

    async def seed() -> None:
        async with open_backend(settings) as (storage, _):
            await register_client(
                storage,
                "default",
                "svc",
                redirect_uris=[],
                public=False,
                secret=SECRET,
                grant_types=["client_credentials"],
            )

    run_coroutine(seed())
    env = cli_env(workdir, database_url, {"PIXIE_SECRET_KEY": base64.urlsafe_b64encode(MASTER).decode()})
    secrets: dict[str, str] = {}
    receiver = f"http://127.0.0.1:{receiver_port}"
    for name, events in (("ok", ["token_issued"]), ("flaky", ["token_issued"]), ("hang", [])):
        args = ["webhooks", "add", f"{receiver}/{name}"] + [f"--event={event}" for event in events]
        added = run_pixie(args, env)
        assert added.returncode == 0, added.stderr
        secrets[name] = json.loads(added.stdout)["secret"]
    received = Received()
    with serve_in_thread(_receiver(received), receiver_port), serve_pixie(settings) as base:
        yield Setup(base, received, secrets, env)


def _wait_for(condition: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting for webhook deliveries"
        time.sleep(0.05)


def test_deliveries_are_signed_and_carry_the_event_without_credentials(setup: Setup) -> None:
    with httpx.Client(base_url=setup.base) as http:
        issued = http.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", SECRET)).json()
        assert http.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", "bad")).status_code == 401
    _wait_for(lambda: len(setup.received.of("ok")) >= 1 and len(setup.received.of("hang")) >= 2)
    time.sleep(0.3)  # a wrongly delivered client_authentication_failed would have arrived by now
    headers, body = setup.received.of("ok")[0]
    assert verify_signature(setup.secrets["ok"], body, headers[SIGNATURE_HEADER.lower()])
    assert not verify_signature(setup.secrets["flaky"], body, headers[SIGNATURE_HEADER.lower()]), "per-hook secrets"
    assert not verify_signature(setup.secrets["ok"], body + b" ", headers[SIGNATURE_HEADER.lower()])
    payload = json.loads(body)
    assert payload["event"]["event"] == "token_issued" and payload["event"]["client"] == "svc"
    assert payload["id"] == headers["pixie-webhook-id"]
    assert issued["access_token"] not in body.decode() and SECRET not in body.decode()
    kinds_ok = {json.loads(b)["event"]["event"] for _, b in setup.received.of("ok")}
    assert kinds_ok == {"token_issued"}, "the ok hook subscribed to token_issued only"
    kinds_all = {json.loads(b)["event"]["event"] for _, b in setup.received.of("hang")}
    assert {"token_issued", "client_authentication_failed"} <= kinds_all


def test_a_flaky_endpoint_is_retried_with_backoff(setup: Setup) -> None:
    _wait_for(lambda: len(setup.received.of("flaky")) >= 3)
    attempts = [headers["pixie-attempt"] for headers, _ in setup.received.of("flaky")[:3]]
    ids = {headers["pixie-webhook-id"] for headers, _ in setup.received.of("flaky")[:3]}
    assert attempts == ["1", "2", "3"] and len(ids) == 1, "the same delivery, retried"


def test_a_hanging_endpoint_never_slows_the_token_endpoint(setup: Setup) -> None:
    slowest = 0.0
    with httpx.Client(base_url=setup.base) as http:
        for _ in range(20):
            started = time.perf_counter()
            response = http.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", SECRET))
            slowest = max(slowest, time.perf_counter() - started)
            assert response.status_code == 200
    assert len(setup.received.of("hang")) >= 2, "deliveries to the hanging hook are in flight"
    assert slowest < 1.0, f"a token request took {slowest:.2f} s while a webhook hung"


def test_list_shows_no_secret_and_remove_unsubscribes(setup: Setup) -> None:
    listed = run_pixie(["webhooks", "list"], setup.env)
    assert listed.returncode == 0
    assert len(json.loads(listed.stdout)) == 3
    assert all(secret not in listed.stdout for secret in setup.secrets.values())
    url = json.loads(listed.stdout)[0]["url"]
    assert run_pixie(["webhooks", "remove", url], setup.env).returncode == 0
    again = run_pixie(["webhooks", "remove", url], setup.env)
    assert again.returncode == 1 and "no webhook" in again.stderr
    bad = run_pixie(["webhooks", "add", "http://example.com/hook"], setup.env)
    assert bad.returncode == 2 and "https" in bad.stderr


def test_signature_rejects_old_timestamps() -> None:
    header = sign("whsec_x", b"{}", timestamp=1_000)
    assert verify_signature("whsec_x", b"{}", header, now=1_100)
    assert not verify_signature("whsec_x", b"{}", header, now=1_000 + 301)
    assert not verify_signature("whsec_x", b"{}", "t=abc,v1=00", now=1_000)
    assert not verify_signature("whsec_x", b"{}", None)
