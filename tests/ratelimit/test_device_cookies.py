"""Nobody can lock a user out by failing to sign in as them: a real Pixie on loopback, over HTTP, with its counters in
process memory and in the real Redis.

The server believes ``X-Forwarded-For`` from loopback (as behind a proxy), so each test browser can come from an
address of its own. Usernames and addresses are new on every run: Redis keeps counters between runs.

Spec: RFC 9700 §4.16; OWASP Authentication Cheat Sheet, "Slow Down Online Guessing Attacks with Device Cookies";
OWASP ASVS 2.2.1 (no enumeration through the limits).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from livesupport import free_port, run_coroutine, serve_pixie
from pixie.config import RateLimits, Settings
from pixie.management import create_user, ensure_default_tenant, register_client
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing
from services import redis_url
from spec.support import GENERIC_LOGIN_FAILURE, SCOPES, SPA_CB, Browser, Pixie, authorize_pairs

MASTER_KEY = b"device-cookie-suite-master-key!!"
PASSWORD = "alice-correct-horse"
RUN = secrets.token_hex(4)
TOO_MANY = "Too many sign-in attempts"


def _address() -> str:
    """A documentation address (RFC 5737) no earlier run used."""
    return f"203.0.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


@dataclass(frozen=True)
class Served:
    pixie: Pixie
    users: dict[str, str]
    """name in the tests → username on the server (unique per run)."""


async def _seed(database_url: str, usernames: list[str]) -> None:
    async with open_storage(database_url) as storage:
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER_KEY))
        await register_client(storage, "default", "spa", redirect_uris=[SPA_CB], public=True, scopes=SCOPES)
        for username in usernames:
            await create_user(storage, "default", username, PASSWORD)


def _serve(tmp: pytest.TempPathFactory, counters: str, limits: RateLimits) -> Iterator[Served]:
    users = {
        name: f"{name}-{RUN}-{secrets.token_hex(2)}" for name in ("alice", "bob", "carol", "dave", "erin", "frank")
    }
    db_path = tmp.mktemp("device-cookies") / "pixie.db"
    database_url = f"sqlite:///{db_path}"
    run_coroutine(_seed(database_url, list(users.values())))
    port = free_port()
    settings = Settings(
        database_url=database_url,
        issuer=f"http://127.0.0.1:{port}",
        master_key=MASTER_KEY,
        redis_url=redis_url() if counters == "redis" else None,
        rate_limits=limits,
        forwarded_allow_ips=("127.0.0.1",),
    )
    # As behind a proxy on loopback: the address a request counts against comes from X-Forwarded-For.
    with serve_pixie(settings) as base:
        yield Served(Pixie(base=base, db_path=db_path), users)


@pytest.fixture(scope="module", params=["memory", "redis"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Pixie with its default limits."""
    yield from _serve(tmp_path_factory, request.param, RateLimits())


class At(Browser):
    """A browser at one address (sent as X-Forwarded-For), keeping its cookies."""

    def __init__(self, pixie: Pixie, address: str | None = None) -> None:
        super().__init__(pixie)
        self.move(address or _address())
        self.last_retry_after = ""

    def move(self, address: str) -> None:
        self.http.headers["X-Forwarded-For"] = address

    def try_login(self, username: str, password: str) -> httpx.Response:
        page = self.follow(self.authorize(authorize_pairs()), "/login")
        return self.submit_login(page, username, password)

    def signs_in(self, username: str) -> bool:
        """Whether the right password gets through (303 onward: consent, as this client was never approved)."""
        response = self.try_login(username, PASSWORD)
        if response.status_code == 303:
            assert urlsplit(response.headers["location"]).path == "/consent", response.headers["location"]
            return True
        assert response.status_code == 429, (response.status_code, response.text[:300])
        self.last_retry_after = response.headers["retry-after"]
        return False

    def logout(self) -> None:
        # A state-changing POST names its origin, as a browser does (pixie.server.origins).
        origin = f"{self.http.base_url.scheme}://{self.http.base_url.netloc.decode()}"
        assert self.http.post("/logout", headers={"Origin": origin}).status_code == 200
        assert self.session_cookie() is None

    def device_cookies(self) -> dict[str, str]:
        return {name: value for name, value in self.http.cookies.items() if name.startswith("pixie-device")}


def _attack(pixie: Pixie, username: str, *, addresses: int, per_address: int) -> list[int]:
    """Wrong passwords for ``username`` from ``addresses`` fresh addresses; the statuses the attacker saw."""
    statuses = []
    for _ in range(addresses):
        with At(pixie) as attacker:
            for _ in range(per_address):
                statuses.append(attacker.try_login(username, "guess-" + secrets.token_hex(4)).status_code)
    return statuses


def _clear_of_a_window_edge(window: int = 60, margin: float = 30) -> None:
    """Start in a fresh window when the current one ends within ``margin`` seconds. The per-username limit is a
    sliding-window counter over windows aligned to the epoch: a refused failure is not counted, so once a window
    closes its spent count weighs less at once and an unknown browser gets one more try. A test that checks the
    rate is spent must do so in the window the attack spent."""
    left = window - time.time() % window
    if left < margin:
        time.sleep(left + 0.2)


def test_an_attacker_cannot_lock_a_user_out_of_her_known_browser(served: Served) -> None:
    """50 failures for alice from 25 addresses: the browser alice signed in with before signs her in at once, even
    from one of the attacker's addresses, while the attacker's further tries still get 429; a browser alice never
    used is slowed down (Retry-After within a minute), not locked for minutes."""
    pixie, alice = served.pixie, served.users["alice"]
    attacker_address = _address()
    with At(pixie) as known:
        assert known.signs_in(alice)
        known.logout()  # signed out: the next sign-in needs the password again

        _clear_of_a_window_edge()
        statuses = _attack(pixie, alice, addresses=24, per_address=2)
        with At(pixie, attacker_address) as attacker:
            statuses += [attacker.try_login(alice, "guess").status_code for _ in range(2)]
        assert len(statuses) == 50 and set(statuses) <= {200, 429}
        assert statuses.count(429) >= 40, "the attack is slowed down"

        known.move(attacker_address)
        assert known.signs_in(alice), "alice's known browser is never locked by failures from elsewhere"

    for address in (attacker_address, _address()):
        with At(pixie, address) as attacker:
            refused = attacker.try_login(alice, "guess")
            assert refused.status_code == 429 and TOO_MANY in refused.text

    with At(pixie) as unknown:
        response = unknown.try_login(alice, PASSWORD)
        assert response.status_code == 429
        assert 1 <= int(response.headers["retry-after"]) <= 60, "slowed down, not locked for minutes"
        assert TOO_MANY in response.text and GENERIC_LOGIN_FAILURE not in response.text


QUICK_WINDOW = 4


@pytest.fixture(scope="module", params=["memory", "redis"])
def quick(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Pixie whose per-username rate for unknown browsers is 3 failures in 4 seconds, so a test can wait it out."""
    yield from _serve(
        tmp_path_factory, request.param, RateLimits(login_failures_per_user=f"3 per {QUICK_WINDOW} seconds")
    )


def test_an_unknown_browser_is_slowed_down_then_signs_in(quick: Served) -> None:
    """Once an attack has spent the username's rate, a new browser is told to wait (Retry-After, never more than
    the window), and by doing as told it signs in within two windows: slowed down, not locked out."""
    pixie, bob = quick.pixie, quick.users["bob"]
    _attack(pixie, bob, addresses=4, per_address=2)
    with At(pixie) as unknown:
        started = time.monotonic()
        waits = []
        while not unknown.signs_in(bob):
            waits.append(int(unknown.last_retry_after))
            assert 1 <= waits[-1] <= QUICK_WINDOW
            assert time.monotonic() - started < 2 * QUICK_WINDOW, f"still refused after waiting {waits}"
            time.sleep(waits[-1])
        assert waits, "the attack had spent the username's rate: the first try was refused"


def test_a_known_browsers_own_failures_lock_only_that_browser(served: Served) -> None:
    """OWASP: failures from a browser holding the user's device cookie count against that cookie alone. After
    ``lockout_after`` of them it is refused; the user's other known browser and unknown browsers are not."""
    pixie, carol = served.pixie, served.users["carol"]
    with At(pixie) as laptop, At(pixie) as phone:
        assert laptop.signs_in(carol) and phone.signs_in(carol)
        laptop.logout()
        phone.logout()
        answers = [laptop.try_login(carol, "typo-" + str(index)).status_code for index in range(5)]
        assert answers == [200] * 5
        assert not laptop.signs_in(carol), "its own failures lock the laptop"
        assert phone.signs_in(carol), "the phone is another device"
    with At(pixie) as unknown:
        assert unknown.signs_in(carol), "the laptop's failures did not spend the username's rate"


def test_the_device_cookie_is_signed_per_user_and_kept_long(served: Served) -> None:
    """The cookie is HttpOnly, SameSite=Lax, long-lived, does not name the user, and counts only while its MAC
    holds: altered, or presented for another username, it is an unknown browser like any other."""
    pixie, dave, frank = served.pixie, served.users["dave"], served.users["frank"]
    with At(pixie) as browser:
        response = browser.try_login(dave, PASSWORD)
        assert response.status_code == 303
        [set_cookie] = [h for h in response.headers.get_list("set-cookie") if h.startswith("pixie-device")]
        attributes = {part.strip().split("=")[0].lower(): part.strip() for part in set_cookie.split(";")[1:]}
        assert {"httponly", "samesite", "max-age", "path"} <= set(attributes)
        assert attributes["samesite"].lower() == "samesite=lax" and attributes["path"] == "Path=/"
        assert int(attributes["max-age"].split("=")[1]) >= 180 * 24 * 3600
        [(name, value)] = browser.device_cookies().items()
        assert "dave" not in name and "dave" not in value
        browser.logout()

        # Each check below fails five times in this browser, then asks whose failures they were. Had a cookie
        # vouched, they would be its device's (locking it); as an unknown browser they lock this address for that
        # username alone. Lock-outs last 30 s from the fifth failure, so the checks do not depend on a rate window.
        lockout_after = RateLimits().lockout_after
        for index in range(lockout_after):
            assert browser.try_login(frank, f"wrong-{index}").status_code == 200
        assert not browser.signs_in(frank), "dave's device cookie does not vouch for frank"
        assert browser.signs_in(dave), "frank's failures were not counted against dave's device"
        browser.logout()

        [(name, value)] = browser.device_cookies().items()
        forged = value[:-1] + ("A" if value[-1] != "A" else "B")
        browser.http.cookies.set(name, forged, domain="127.0.0.1")
        for index in range(lockout_after):
            assert browser.try_login(dave, f"wrong-{index}").status_code == 200
        assert not browser.signs_in(dave), "with an altered device cookie this is an unknown browser, now locked"
        browser.http.cookies.set(name, value, domain="127.0.0.1")
        assert browser.signs_in(dave), "the genuine cookie still counts: the altered one's failures were not its"


def test_existing_and_unknown_usernames_get_the_same_answers(served: Served) -> None:
    """No enumeration: from one address, wrong passwords for an account that exists and for one that does not
    get the same statuses, pages and Retry-After presence, attempt after attempt, through the limits."""

    def answers(username: str) -> list[tuple[int, str, bool]]:
        seen = []
        with At(pixie) as browser:
            for _ in range(7):
                response = browser.try_login(username, "not-the-password")
                html = re.sub(r'name="(request|csrf_token)" value="[^"]*"', "", response.text)
                html = html.replace(username, "USERNAME")
                html = re.sub(r"Try again in \d+ seconds?", "Try again in N seconds", html)
                seen.append((response.status_code, html, "retry-after" in response.headers))
        return seen

    pixie = served.pixie
    real = answers(served.users["erin"])
    ghost = answers("ghost-" + RUN + "-" + secrets.token_hex(2))
    assert [status for status, _, _ in real] == [200] * 5 + [429] * 2
    assert real == ghost
