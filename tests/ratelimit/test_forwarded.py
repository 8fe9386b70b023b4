"""``X-Forwarded-For`` is believed only from the proxies Pixie was told about: real ``pixie serve`` and ``pixie demo``
processes, with one worker and with two (their counters shared through the real Redis), over HTTP on loopback.

A client on loopback that writes a new ``X-Forwarded-For`` on every try must not get a new address for the
per-address sign-in limit — unless loopback is a proxy Pixie was told to trust (``--forwarded-allow-ips``,
``PIXIE_FORWARDED_ALLOW_IPS``); then the forwarded address is the one that counts.

Spec: RFC 7239 §8.1 (a forwarded address is only as good as the proxy that wrote it), RFC 9700 §4.16,
ARCHITECTURE §6.7.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from livesupport import cli_env, free_port, pixie_process, run_coroutine, run_pixie
from pixie.config import ConfigError, Settings, parse_forwarded_allow_ips
from pixie.demo import config as demo_config
from pixie.management import ensure_default_tenant, register_client
from pixie.storage.schema import open_storage
from pixie.tokens.keys import KeyRing
from services import redis_url
from spec.support import SCOPES, SPA_CB, authorize_pairs, hidden_fields

MASTER_KEY = b"forwarded-suite-master-key-32by!"
PER_ADDRESS = 3
"""Failed sign-ins an address may make per minute in these tests (``PIXIE_RATE_LIMIT_LOGIN_IP``)."""


def _address() -> str:
    """A documentation address (RFC 5737) no earlier run used: Redis keeps counters for a minute."""
    return f"198.51.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


@dataclass(frozen=True)
class Server:
    base: str
    client_id: str = "spa"
    redirect_uri: str = SPA_CB

    def failed_sign_in(self, forwarded_for: str) -> int:
        """One wrong password for a username nobody has, every request with ``X-Forwarded-For: forwarded_for``;
        the status of the login POST (200: the generic failure, 429: the per-address limit)."""
        headers = {"X-Forwarded-For": forwarded_for}
        with httpx.Client(base_url=self.base, headers=headers, timeout=20) as http:
            pairs = authorize_pairs(client_id=self.client_id, redirect_uri=self.redirect_uri)
            started = http.get("/authorize", params=tuple(pairs))
            assert started.status_code == 303, started.text[:300]
            page = http.get(started.headers["location"])
            username = "nobody-" + secrets.token_hex(4)  # a new one each time: only the address limit applies
            form = {**hidden_fields(page.text), "username": username, "password": "not-it"}
            return http.post("/login", data=form).status_code


async def _seed(database_url: str) -> None:
    async with open_storage(database_url) as storage:
        await ensure_default_tenant(storage, KeyRing(storage.keys, MASTER_KEY))
        await register_client(storage, "default", "spa", redirect_uris=[SPA_CB], public=True, scopes=SCOPES)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    database_url = f"sqlite:///{tmp_path / 'pixie.db'}"
    run_coroutine(_seed(database_url))
    return cli_env(
        tmp_path,
        database_url,
        {
            "PIXIE_SECRET_KEY": base64.urlsafe_b64encode(MASTER_KEY).decode("ascii"),
            "PIXIE_RATE_LIMIT_LOGIN_IP": f"{PER_ADDRESS}/minute",
            "PIXIE_REDIS_URL": redis_url(),  # workers share their counters, as instances behind a balancer would
        },
    )


@contextmanager
def serving(args: list[str], env: dict[str, str]) -> Iterator[Server]:
    """``pixie serve`` (or ``demo``) with ``args`` on a free port, until the block ends."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with pixie_process([*args, "--port", str(port)], env, f"{base}/healthz"):
        yield Server(base)


# With the counters in Redis and an address of loopback's own, earlier runs may have spent some of this minute's
# tries already: the claim is only that the fourth and later ones are refused whatever the header says.
@pytest.mark.parametrize("workers", ["1", "2"])
def test_by_default_a_rotating_x_forwarded_for_does_not_dodge_the_address_limit(
    env: dict[str, str], workers: str
) -> None:
    """Nobody is trusted by default: every try comes from 127.0.0.1, whatever X-Forwarded-For claims, so the
    per-address limit refuses the fourth try and all later ones — with one worker and with several."""
    with serving(["serve", "--workers", workers], env) as server:
        statuses = [server.failed_sign_in(_address()) for _ in range(PER_ADDRESS + 3)]
    assert set(statuses[:PER_ADDRESS]) <= {200, 429}
    assert statuses[PER_ADDRESS:] == [429] * 3, statuses


@pytest.mark.parametrize(
    ("how", "workers"),
    [("option", "1"), ("environment", "2")],
    ids=["--forwarded-allow-ips", "PIXIE_FORWARDED_ALLOW_IPS-2-workers"],
)
def test_a_trusted_proxy_makes_the_forwarded_address_count(env: dict[str, str], how: str, workers: str) -> None:
    """Told that loopback is a proxy, Pixie counts each forwarded address on its own: six addresses each fail once
    without a refusal, and one address is refused at its fourth failure."""
    args = ["serve", "--workers", workers]
    if how == "option":
        args += ["--forwarded-allow-ips", "127.0.0.1, ::1"]
    else:
        env = {**env, "PIXIE_FORWARDED_ALLOW_IPS": "127.0.0.0/8"}
    with serving(args, env) as server:
        assert [server.failed_sign_in(_address()) for _ in range(PER_ADDRESS + 3)] == [200] * (PER_ADDRESS + 3)
        one = _address()
        statuses = [server.failed_sign_in(one) for _ in range(PER_ADDRESS + 1)]
        # The right-most address a trusted proxy did not write is the client's (what a real proxy chain appends).
        chained = server.failed_sign_in(f"{_address()}, {one}")
    assert statuses == [200] * PER_ADDRESS + [429]
    assert chained == 429


def test_pixie_demo_trusts_no_proxy_by_default(env: dict[str, str]) -> None:
    """``pixie demo`` starts uvicorn its own way too: a rotating X-Forwarded-For does not dodge its limit either."""
    with serving(["demo"], env) as demo:
        server = Server(demo.base, demo_config.CLIENT_ID, demo_config.redirect_uri(demo.base))
        statuses = [server.failed_sign_in(_address()) for _ in range(PER_ADDRESS + 3)]
    assert statuses[PER_ADDRESS:] == [429] * 3, statuses


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_malformed_proxy_list_is_refused_in_one_line(env: dict[str, str], command: str) -> None:
    """A typo must not quietly become a proxy nobody can be (or trust everyone): exit 2, one line, no traceback."""
    for args, extra in (
        ([command, "--forwarded-allow-ips", "10.0.0.0/8,proxy.internal"], {}),
        ([command], {"PIXIE_FORWARDED_ALLOW_IPS": "10.0.0.300"}),
    ):
        result = run_pixie(args, {**env, **extra})
        assert result.returncode == 2, (result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pixie: error: "), result.stderr
        assert "is not an IP address or network" in lines[0]
        assert "Traceback" not in result.stderr


def test_the_proxy_list_is_read_and_normalised() -> None:
    """Addresses become one-host networks, networks keep their prefix, ``*`` stays; the default trusts no one."""
    parsed = parse_forwarded_allow_ips(" 10.0.0.1, 192.168.0.0/16 ,::1,, * ")
    assert parsed == ("10.0.0.1/32", "192.168.0.0/16", "::1/128", "*")
    assert Settings.from_env(_settings_env()).forwarded_allow_ips == ()
    from_env = Settings.from_env({**_settings_env(), "PIXIE_FORWARDED_ALLOW_IPS": "10.1.2.3"})
    assert from_env.forwarded_allow_ips == ("10.1.2.3/32",)
    with pytest.raises(ConfigError, match="PIXIE_FORWARDED_ALLOW_IPS: 'proxy' is not an IP address"):
        Settings.from_env({**_settings_env(), "PIXIE_FORWARDED_ALLOW_IPS": "proxy"})


def _settings_env() -> dict[str, str]:
    return {"PIXIE_SECRET_KEY": base64.urlsafe_b64encode(MASTER_KEY).decode("ascii")}
