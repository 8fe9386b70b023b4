"""How long a change made elsewhere takes to reach an instance's per-process caches.

Each instance caches clients, tenants and its tenants' signer and JWK set until they change: database triggers
record every change in ``directory_changes``, which each instance reads every second and drops what changed
(``pixie.storage.cache``). The bound is therefore that second plus a reading's own time; :data:`BOUNDS` allows 3 s
for a loaded machine. :class:`StalenessWatch` measures it on two live
instances: it warms both caches, then changes the database behind their backs — disables a client and a tenant with
plain SQL, rotates the signing keys with ``pixie keys rotate`` — and polls both instances until each behaves per
the change. It also checks, on every round, that the token each instance issues verifies against the JWK set every
instance publishes at that moment (a rotation must never leave a token signed with an unpublished key).

Every answer is kept with the time its request was *sent*: a stale answer means the server processed the request
before its cache entry expired, so the last stale answer's send time bounds the staleness from below even when the
machine is slow and polls are far apart; the first fresh answer shows the change arrived.

The watch runs in a background thread from the start of the package while the other tests run, and the staleness
tests only read its results. After every change has been seen it goes on for :data:`AFTER` seconds, so that tokens
are checked against every instance's JWK set after the rotation too.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import asyncpg
import httpx

from livesupport import PIXIE
from scaleout.dbcheck import dsn
from scaleout.support import TENANT, TENANT_CLIENT, Instance, client_credentials, instance_env
from spec.support import jwt_part

__all__ = ["BOUNDS", "Observation", "StalenessWatch"]

BOUNDS = {"client_disabled": 3.0, "tenant_disabled": 3.0, "signer_rotated": 3.0, "next_key_published": 3.0}
"""The documented staleness bound of each change, in seconds (the cache TTLs)."""
POLL = 0.25
DEADLINE = 50.0
AFTER = 3.0


@dataclass(frozen=True)
class Observation:
    """One change as one instance saw it, in seconds after the change was committed."""

    stale_until: float | None
    """Send time of the last request answered as before the change (None: none was)."""
    seen_after: float | None
    """Arrival of the first answer that showed the change (None: never within the deadline)."""
    flapped: bool
    """A stale answer came after a fresh one."""


@dataclass(frozen=True)
class _Answer:
    sent: float
    received: float
    value: object


class StalenessWatch:
    def __init__(self, instances: tuple[Instance, Instance], database_url: str, workdir: Path) -> None:
        self.instances = instances
        self.database_url = database_url
        self.workdir = workdir
        self.changed_at: dict[str, float] = {}
        self.anomalies: list[str] = []
        self.rounds = 0
        self._answers: dict[tuple[str, str], list[_Answer]] = defaultdict(list)
        self._old_kid = ""
        self._new_kids = ("", "")
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="staleness-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def requests(self) -> int:
        return sum(len(answers) for answers in self._answers.values())

    def result(self) -> dict[str, dict[str, Observation]]:
        """Wait for the watch to finish (at most its deadline); per change, per instance name, what it saw."""
        self._thread.join(timeout=DEADLINE + 30)
        if self._error is not None:
            raise AssertionError(f"the staleness watch failed: {self._error!r}") from self._error
        assert not self._thread.is_alive(), "the staleness watch did not finish"
        return {change: {on.name: self._observe(change, on.name) for on in self.instances} for change in BOUNDS}

    def _fresh(self, change: str, value: object) -> bool:
        active, upcoming = self._new_kids
        if change == "client_disabled":
            return value == 401
        if change == "tenant_disabled":
            return value == 404
        if change == "signer_rotated":
            return value == active
        return isinstance(value, frozenset) and upcoming in value

    def _observe(self, change: str, name: str) -> Observation:
        answers = self._answers[(change, name)]
        fresh = [self._fresh(change, answer.value) for answer in answers]
        stale_sent = [a.sent for a, f in zip(answers, fresh, strict=True) if not f]
        fresh_received = [a.received for a, f in zip(answers, fresh, strict=True) if f]
        at = self.changed_at[change]
        return Observation(
            stale_until=round(max(stale_sent) - at, 3) if stale_sent else None,
            seen_after=round(min(fresh_received) - at, 3) if fresh_received else None,
            flapped=any(f and not later for f, later in pairwise(fresh)),
        )

    def _run(self) -> None:
        try:
            with httpx.Client(timeout=10) as http:
                self._watch(http)
        except BaseException as exc:  # handed to the test thread by result()
            self._error = exc

    def _watch(self, http: httpx.Client) -> None:
        kids = set()
        for on in self.instances:  # warm every cache the changes below will make stale
            assert client_credentials(http, on, "probe-disable").status_code == 200
            assert client_credentials(http, on, TENANT_CLIENT, tenant=TENANT).status_code == 200
            kids.add(jwt_part(client_credentials(http, on, "probe-keys").json()["access_token"], 0)["kid"])
            http.get(f"{on.base}/jwks.json").raise_for_status()
        (self._old_kid,) = kids
        asyncio.run(self._disable_client_and_tenant())
        rotation = subprocess.Popen(  # the rotation runs while the polls go on
            [PIXIE, "keys", "rotate"], env=instance_env(self.workdir, self.database_url), stderr=subprocess.PIPE
        )
        end = time.monotonic() + DEADLINE
        complete_at: float | None = None
        while time.monotonic() < end and (complete_at is None or time.monotonic() < complete_at + AFTER):
            if complete_at is None and self._complete(rotation):
                complete_at = time.monotonic()
            self._round(http)
            self.rounds += 1
            time.sleep(POLL)

    def _seen(self, change: str, on: Instance) -> bool:
        return any(self._fresh(change, answer.value) for answer in self._answers[(change, on.name)])

    def _complete(self, rotation: subprocess.Popen[bytes]) -> bool:
        if "signer_rotated" not in self.changed_at:
            if rotation.poll() is None:
                return False
            _, stderr = rotation.communicate()
            assert rotation.returncode == 0, stderr
            asyncio.run(self._read_rotation())
        return all(self._seen(change, on) for change in BOUNDS for on in self.instances)

    async def _disable_client_and_tenant(self) -> None:
        connection = await asyncpg.connect(dsn(self.database_url))
        try:
            await connection.execute("UPDATE clients SET disabled = true WHERE client_id = 'probe-disable'")
            self.changed_at["client_disabled"] = time.time()
            await connection.execute("UPDATE tenants SET disabled = true WHERE tenant_id = $1", TENANT)
            self.changed_at["tenant_disabled"] = time.time()
        finally:
            await connection.close()

    async def _read_rotation(self) -> None:
        """The new active and next kid; the rotation happened when the new key was activated."""
        connection = await asyncpg.connect(dsn(self.database_url))
        try:
            rows = await connection.fetch(
                "SELECT kid, state, activated_at FROM signing_keys WHERE tenant_id = 'default'"
                " AND state IN ('active', 'next')"
            )
        finally:
            await connection.close()
        (active,) = [row for row in rows if row["state"] == "active"]
        (upcoming,) = [row for row in rows if row["state"] == "next"]
        assert active["kid"] != self._old_kid
        self._new_kids = (active["kid"], upcoming["kid"])
        self.changed_at["signer_rotated"] = self.changed_at["next_key_published"] = active["activated_at"]

    def _ask(self, change: str, on: Instance, request: Callable[[], object]) -> object:
        sent = time.time()
        value = request()
        self._answers[(change, on.name)].append(_Answer(sent, time.time(), value))
        return value

    def _round(self, http: httpx.Client) -> None:
        def jwks(on: Instance) -> frozenset[str]:
            return frozenset(key["kid"] for key in http.get(f"{on.base}/jwks.json").json()["keys"])

        def kid(on: Instance) -> str:
            token = client_credentials(http, on, "probe-keys").json()["access_token"]
            return str(jwt_part(token, 0)["kid"])

        published = {on.name: self._ask("next_key_published", on, lambda on=on: jwks(on)) for on in self.instances}
        for on in self.instances:
            if not self._seen("client_disabled", on):
                self._ask(
                    "client_disabled", on, lambda on=on: client_credentials(http, on, "probe-disable").status_code
                )
            if not self._seen("tenant_disabled", on):
                self._ask(
                    "tenant_disabled",
                    on,
                    lambda on=on: client_credentials(http, on, TENANT_CLIENT, tenant=TENANT).status_code,
                )
            signed_by = self._ask("signer_rotated", on, lambda on=on: kid(on))
            for name, kids in published.items():
                if signed_by not in kids:
                    self.anomalies.append(f"a token from {on.name} is signed by {signed_by!s:.8}, not in {name}'s JWKS")
