"""Helpers of the scale-out suite: real ``pixie serve`` processes on one PostgreSQL database, seeded data, and a
browser whose every request may land on another instance.

Nothing here reaches into a running server: instances are separate processes started with the ``pixie`` command,
talked to over loopback HTTP, and the database is read directly only to check what they left there.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from livesupport import PIXIE, cli_env, free_port
from pixie.management import create_tenant, create_user, ensure_default_tenant, register_client
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing
from spec.support import SPA_CB, Pkce, authorize_pairs, hidden_fields, redirect_params, token_request

MASTER_KEY = b"scaleout-suite-master-key-32byte"
SCOPES = ("properties:read", "tenants:read")
ALICE = ("alice", "alice-in-wonderland")
CC_SECRET = "scaleout-client-secret-0123456789-abcdef"
GRACE_SECONDS = 30
TENANT = "acme"

# Every client is registered once per package (see :func:`seed`); each test uses its own, so none sees another's
# changes: "app" walks flows, "load-*" carry the crash-safety load, the "probe-*" ones are disabled or watched by
# the staleness tests.
PUBLIC_CLIENTS = {"app": 0, "dpop-app": 0, "load-grace": GRACE_SECONDS, "load-strict": 0, "shutdown": GRACE_SECONDS}
CC_CLIENTS = ("probe-disable", "probe-keys", "probe-keys-b")
TENANT_CLIENT = "probe-tenant"

# One public issuer for every instance, as behind a load balancer; instances are reached on their own ports.
ISSUER = "http://127.0.0.1:8443"


async def seed(database_url: str) -> None:
    """Migrate the database and register everything the package uses (module docstring of ``conftest``)."""
    async with open_storage(database_url) as storage:
        keyring = KeyRing(storage.keys, MASTER_KEY)
        await ensure_default_tenant(storage, keyring)
        for client_id, grace in PUBLIC_CLIENTS.items():
            await register_client(
                storage,
                "default",
                client_id,
                redirect_uris=[SPA_CB],
                public=True,
                scopes=SCOPES,
                refresh_grace_seconds=grace,
            )
        for client_id in CC_CLIENTS:
            await register_client(
                storage,
                "default",
                client_id,
                redirect_uris=[],
                public=False,
                secret=CC_SECRET,
                scopes=SCOPES,
                grant_types=["client_credentials"],
            )
        await create_tenant(storage, keyring, TENANT, settings=None)
        await register_client(
            storage,
            TENANT,
            TENANT_CLIENT,
            redirect_uris=[],
            public=False,
            secret=CC_SECRET,
            scopes=SCOPES,
            grant_types=["client_credentials"],
        )
        await create_user(storage, "default", *ALICE)


@dataclass
class Instance:
    """One running ``pixie serve`` process."""

    name: str
    base: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, open connections just drop."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM and wait; the exit status (negative: killed by that signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def worker_pids(self) -> list[int]:
        """Worker processes started by ``--workers N`` (multiprocessing children, not its resource tracker)."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        children = [int(pid) for pid in path.read_text().split()] if path.exists() else []
        return [pid for pid in children if b"spawn_main" in _cmdline(pid)]

    def wait_for_workers(self, count: int, give_up_after: float = 20) -> list[int]:
        """The worker pids once ``count`` of them run (the first one may answer before the others are up)."""
        end = time.monotonic() + give_up_after
        while len(pids := self.worker_pids()) != count:
            assert time.monotonic() < end, f"{self.name} runs {len(pids)} workers, not {count}"
            time.sleep(0.05)
        return pids


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # exited meanwhile
        return b""


def instance_env(workdir: Path, database_url: str) -> dict[str, str]:
    """The environment of every instance: one master key, and no token rate limits (the load is the point here;
    ``tests/ratelimit`` covers the limits)."""
    return cli_env(
        workdir,
        database_url,
        {
            "PIXIE_SECRET_KEY": base64.urlsafe_b64encode(MASTER_KEY).decode("ascii"),
            "PIXIE_RATE_LIMIT_TOKEN_CLIENT": "",
            "PIXIE_RATE_LIMIT_TOKEN_IP": "",
        },
    )


@contextmanager
def running_all(
    names: Sequence[str], database_url: str, workdir: Path, *, workers: int = 1, timeout: float = 30
) -> Iterator[list[Instance]]:
    """Start ``pixie serve --issuer ISSUER`` once per name, each on a free port, all at once (start-up is mostly
    imports, so they overlap); wait until every ``/readyz`` says ready; stop them on exit (SIGTERM, then SIGKILL
    if one hangs). Each one's output goes to ``workdir/NAME.log``."""
    instances: list[Instance] = []
    try:
        for name in names:
            port = free_port()
            log_path = workdir / f"{name}.log"
            args = ["serve", "--port", str(port), "--issuer", ISSUER, "--workers", str(workers)]
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    [PIXIE, *args], env=instance_env(workdir, database_url), stdout=log, stderr=subprocess.STDOUT
                )
            instances.append(Instance(name=name, base=f"http://127.0.0.1:{port}", proc=proc, log_path=log_path))
        for instance in instances:
            _wait_ready(instance, timeout)
        yield instances
    finally:
        alive = [instance.proc for instance in instances if instance.proc.poll() is None]
        for proc in alive:
            proc.terminate()
        for proc in alive:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def running(name: str, database_url: str, workdir: Path, *, workers: int = 1) -> Iterator[Instance]:
    """One instance (see :func:`running_all`)."""
    with running_all([name], database_url, workdir, workers=workers) as (instance,):
        yield instance


def _wait_ready(instance: Instance, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if instance.proc.poll() is not None:
            raise RuntimeError(f"{instance.name} exited early ({instance.proc.returncode}): {instance.log()}")
        try:
            if httpx.get(f"{instance.base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{instance.name} did not become ready: {instance.log()}")
        time.sleep(0.05)


_FAULT_MARKERS = (
    "unexpected error",  # pixie's ErrorGuard: an exception became a 500 server_error
    "Exception in ASGI application",  # uvicorn: an exception escaped the app altogether
)


def server_faults(instance: Instance) -> list[str]:
    """Log lines that mean a request failed with a 500 (a database outage is logged too, but as a 503)."""
    return [line for line in instance.log().splitlines() if any(marker in line for marker in _FAULT_MARKERS)]


class CrossBrowser:
    """One cookie jar, absolute URLs: each step of a flow can go to another instance, as behind a load balancer
    (cookies are per host, not per port, so both instances see the same cookies)."""

    def __init__(self, **client_options: Any) -> None:
        self.http = httpx.Client(timeout=20, **client_options)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> CrossBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def authorize(self, on: Instance, pairs: list[tuple[str, str]]) -> httpx.Response:
        return self.http.get(f"{on.base}/authorize", params=tuple(pairs))

    def page(self, on: Instance, response: httpx.Response, step: str) -> httpx.Response:
        """Follow the 303 to the interaction page ``step`` ("/login", "/consent") — on instance ``on``."""
        assert response.status_code == 303, (response.status_code, response.text[:300])
        location = response.headers["location"]
        assert urlsplit(location).path == step, location
        page = self.http.get(f"{on.base}{location}")
        assert page.status_code == 200, page.text[:300]
        return page

    def post_form(self, on: Instance, step: str, page: httpx.Response, **fields: str) -> httpx.Response:
        return self.http.post(f"{on.base}{step}", data={**hidden_fields(page.text), **fields})

    def session_cookie(self) -> str | None:
        return self.http.cookies.get("pixie-session")


def sign_in_and_consent(browser: CrossBrowser, on: Instance, client_id: str) -> None:
    """Sign alice in and approve ``client_id`` for every scope (all on ``on``)."""
    pairs = authorize_pairs(client_id=client_id, scope=" ".join(SCOPES), prompt="consent")
    response = browser.authorize(on, pairs)
    if urlsplit(response.headers.get("location", "")).path == "/login":
        page = browser.page(on, response, "/login")
        response = browser.post_form(on, "/login", page, username=ALICE[0], password=ALICE[1])
    page = browser.page(on, response, "/consent")
    params = redirect_params(browser.post_form(on, "/consent", page, decision="approve"), SPA_CB)
    assert "code" in params, params


def new_family(browser: CrossBrowser, on: Instance, client_id: str) -> dict[str, Any]:
    """With a signed-in, consented browser: a fresh authorization of ``client_id`` (a new refresh family)."""
    proof = Pkce.new()
    response = browser.authorize(
        on, authorize_pairs(client_id=client_id, challenge=proof.challenge, scope=" ".join(SCOPES))
    )
    code = redirect_params(response, SPA_CB)["code"]
    with httpx.Client(base_url=on.base, timeout=20) as http:
        tokens = token_request(http, code, proof.verifier, client_id=client_id)
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    return body


def client_credentials(http: httpx.Client, on: Instance, client_id: str, tenant: str | None = None) -> httpx.Response:
    prefix = f"/t/{tenant}" if tenant else ""
    return http.post(f"{on.base}{prefix}/token", data={"grant_type": "client_credentials"}, auth=(client_id, CC_SECRET))


def soak() -> bool:
    """``PIXIE_SOAK=1``: the long variants (more clients, longer load, more faults)."""
    return os.environ.get("PIXIE_SOAK", "") not in ("", "0")
