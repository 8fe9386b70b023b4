"""``pixie doctor`` on real configurations: a deliberately weak one shows every finding with its severity, its RFC
section and the command that fixes it (exit 1); a good one shows no error (exit 0); a setting that keeps the server
from starting is a finding, not a crash. Real subprocesses on a real SQLite file (PostgreSQL for the shared-limits
finding)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from livesupport import cli_env, run_pixie
from pixie.config import RateLimits
from pixie.doctor import POSTGRESQL_SETTINGS, Deployment, examine
from pixie.storage.records import Tenant
from pixie.storage.schema.urls import libpq_dsn

KEY = {"PIXIE_SECRET_KEY": "E" * 43}
GOOD = {**KEY, "PIXIE_ISSUER": "https://auth.example.com", "PIXIE_FORWARDED_ALLOW_IPS": "10.0.0.5"}


def _ok(args: list[str], env: dict[str, str]) -> str:
    result = run_pixie(args, env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any], str]:
    result = run_pixie(["doctor", "--json", *args], env)
    assert "Traceback" not in result.stderr, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return result.returncode, report, result.stderr


def _by_check(report: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = {}
    for finding in report["findings"]:
        assert set(finding) == {"check", "severity", "message", "reference", "fix"}
        assert finding["reference"] and finding["fix"] and finding["message"]
        found.setdefault(finding["check"], []).append(finding)
    return found


def _weaken(db: Path) -> None:
    """What registration refuses, written as an old release or a hand edit could have left it; an active key past
    its rotation and no next key."""
    now = time.time()
    with sqlite3.connect(db) as connection:
        row = connection.execute("SELECT * FROM clients WHERE client_id = 'spa'").fetchone()
        columns = [c[0] for c in connection.execute("SELECT * FROM clients").description]
        for client_id, uris in (("legacy", '["http://app.example.com/cb"]'), ("wild", '["https://*.example.com/cb"]')):
            values = dict(zip(columns, row, strict=True)) | {"client_id": client_id, "redirect_uris": uris}
            marks = ", ".join("?" for _ in values)
            connection.execute(f"INSERT INTO clients ({', '.join(values)}) VALUES ({marks})", list(values.values()))  # noqa: S608
        connection.execute(
            "UPDATE signing_keys SET activated_at = ?, created_at = ? WHERE state = 'active'",
            (now - 200 * 86400, now - 200 * 86400),
        )
        connection.execute("DELETE FROM signing_keys WHERE state = 'next'")


def test_a_weak_configuration_shows_every_finding(tmp_path: Path) -> None:
    env = cli_env(
        tmp_path,
        f"sqlite:///{tmp_path / 'weak.db'}",
        {
            "PIXIE_FORWARDED_ALLOW_IPS": "*",
            "PIXIE_RATE_LIMIT_LOGIN_IP": "",
            "PIXIE_RATE_LIMIT_TOKEN_IP": "",
            "PIXIE_METRICS_ALLOW": "0.0.0.0/0",
        },
    )
    del env["PIXIE_SECRET_FILE"]  # the key file beside the database
    _ok(["clients", "create", "spa", "--public", "--redirect-uri", "http://127.0.0.1/cb"], env)
    _ok(["clients", "create", "flaky", "--public", "--redirect-uri", "http://127.0.0.1/cb"], env)
    _ok(["clients", "update", "flaky", "--refresh-grace-seconds", "30", "--access-token-ttl", "86400"], env)
    _ok(
        [
            *("tenants", "settings", "default", "--access-token-ttl", "86400"),
            *("--refresh-grace", "10", "--refresh-idle-ttl", "7776000"),
        ],
        env,
    )
    _weaken(tmp_path / "weak.db")

    code, report, stderr = _doctor(env)
    assert code == 1 and stderr.startswith("pixie: error: ") and len(stderr.splitlines()) == 1
    found = _by_check(report)
    expected = {
        "issuer-https": "error",
        "cookies-secure": "warning",
        "master-key-beside-database": "info",
        "signing-key-age": "warning",
        "signing-key-next": "warning",
        "access-token-lifetime": "warning",
        "refresh-token-lifetime": "warning",
        "refresh-grace-default": "warning",
        "refresh-grace": "warning",
        "redirect-uri-http": "error",
        "redirect-uri-wildcard": "error",
        "proxy-trust": "warning",
        "rate-limits-off": "error",
        "metrics-exposure": "warning",
    }
    assert {check: items[0]["severity"] for check, items in found.items()} == expected
    assert report["errors"] == sum(1 for f in report["findings"] if f["severity"] == "error")
    assert [f["severity"] for f in report["findings"]] == sorted(
        (f["severity"] for f in report["findings"]), key=["error", "warning", "info"].index
    )
    # Each names what it is about and the command that fixes it, citing its section.
    assert "'legacy'" in found["redirect-uri-http"][0]["message"]
    assert found["redirect-uri-http"][0]["fix"].startswith("pixie clients update legacy --redirect-uri https://")
    assert "'wild'" in found["redirect-uri-wildcard"][0]["message"]
    assert found["redirect-uri-wildcard"][0]["reference"] == "RFC 9700 §2.1, §4.1.3"
    assert found["signing-key-age"][0]["fix"] == "pixie keys rotate --tenant default"
    assert found["refresh-grace"][0]["fix"] == "pixie clients update flaky --refresh-grace-seconds 0"
    assert {f["message"].split("'")[1] for f in found["access-token-lifetime"]} == {"default", "flaky"}
    assert "PIXIE_RATE_LIMIT_LOGIN_IP" in found["rate-limits-off"][0]["message"]
    assert "RFC 9700 §4.13" in found["proxy-trust"][0]["reference"]
    assert "0.0.0.0/0" in found["metrics-exposure"][0]["message"]

    human = run_pixie(["doctor"], env)
    assert human.returncode == 1
    assert "ERROR  the issuer http://127.0.0.1:8000 is not https" in human.stdout
    assert "fix: pixie keys rotate --tenant default" in human.stdout
    assert "error(s)" in human.stdout.splitlines()[-1]


def test_a_good_configuration_has_no_error(tmp_path: Path) -> None:
    env = cli_env(tmp_path, f"sqlite:///{tmp_path / 'good.db'}", GOOD)
    _ok(["clients", "create", "spa", "--public", "--redirect-uri", "https://app.example.com/cb"], env)
    _ok(["clients", "create", "cli", "--public", "--redirect-uri", "http://127.0.0.1/cb"], env)  # loopback: fine
    code, report, _ = _doctor(env)
    assert code == 0, report
    assert report["errors"] == 0 and report["issuer"] == "https://auth.example.com"
    assert [f for f in report["findings"] if f["severity"] != "info"] == []
    assert "no findings" in _ok(["doctor"], env)


def test_another_tenant_and_its_clients(tmp_path: Path) -> None:
    env = cli_env(tmp_path, f"sqlite:///{tmp_path / 't.db'}", GOOD)
    _ok(["tenants", "create", "acme"], env)
    _ok(["clients", "create", "spa", "--tenant", "acme", "--public", "--redirect-uri", "http://127.0.0.1/cb"], env)
    _ok(["clients", "update", "spa", "--tenant", "acme", "--refresh-grace-seconds", "5"], env)
    code, report, _ = _doctor(env, "--tenant", "acme")
    assert code == 0 and report["tenant"] == "acme"
    (grace,) = _by_check(report)["refresh-grace"]
    assert grace["fix"] == "pixie clients update spa --tenant acme --refresh-grace-seconds 0"
    missing = run_pixie(["doctor", "--tenant", "ghost"], env)
    assert missing.returncode == 1 and missing.stderr.startswith("pixie: error: no tenant named 'ghost'")


def test_a_key_file_readable_by_others_is_a_finding(tmp_path: Path) -> None:
    env = cli_env(tmp_path, f"sqlite:///{tmp_path / 'k.db'}", {"PIXIE_ISSUER": "https://auth.example.com"})
    _ok(["keys", "list"], env)  # creates the key file (0600)
    key_file = Path(env["PIXIE_SECRET_FILE"])
    assert key_file.stat().st_mode & 0o777 == 0o600
    key_file.chmod(0o644)
    code, report, _ = _doctor(env)
    assert code == 1
    (finding,) = report["findings"]
    assert finding["check"] == "master-key-file-mode" and finding["fix"] == f"chmod 600 {key_file}"


@pytest.mark.postgres
def test_several_instances_need_shared_rate_limits(tmp_path: Path, fresh_postgres_url: str) -> None:
    env = cli_env(tmp_path, fresh_postgres_url, GOOD)
    code, report, _ = _doctor(env)
    assert code == 0
    assert _by_check(report)["rate-limit-backend"][0]["fix"].startswith("PIXIE_REDIS_URL=")
    shared = env | {"PIXIE_REDIS_URL": "redis://127.0.0.1:6379/0"}
    assert "rate-limit-backend" not in _by_check(_doctor(shared)[1])


async def _fetchval(url: str, sql: str) -> Any:
    connection = await asyncpg.connect(libpq_dsn(url))
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


@pytest.mark.postgres
async def test_postgresql_settings_that_lose_commits_or_statistics(tmp_path: Path, fresh_postgres_url: str) -> None:
    """The doctor reads the server's settings as a new connection sees them: synchronous_commit turned off for
    Pixie's database is a durability warning naming where it was set; autovacuum is reported exactly when this
    server runs without it (a setting of the whole server: the test reads it rather than change it)."""
    name = await _fetchval(fresh_postgres_url, "SELECT current_database()")
    await _fetchval(fresh_postgres_url, f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    autovacuum = await _fetchval(fresh_postgres_url, "SHOW autovacuum")
    env = cli_env(tmp_path, fresh_postgres_url, GOOD | {"PIXIE_REDIS_URL": "redis://127.0.0.1:6379/0"})
    code, report, _ = _doctor(env)
    assert code == 0  # warnings only
    found = _by_check(report)
    (durability,) = found["postgresql-durability"]
    assert durability["severity"] == "warning"
    assert "synchronous_commit = off" in durability["message"] and "set in: database" in durability["message"]
    assert ("postgresql-autovacuum" in found) == (autovacuum == "off")

    await _fetchval(fresh_postgres_url, f'ALTER DATABASE "{name}" RESET synchronous_commit')
    assert "postgresql-durability" not in _by_check(_doctor(env)[1])


def _deployment(settings: dict[str, tuple[str, str]]) -> Deployment:
    """A sound deployment on PostgreSQL but for ``settings``."""
    return Deployment(
        issuer="https://auth.example.com",
        database_kind="postgresql",
        master_key_env=True,
        master_key_file=None,
        key_file_mode=None,
        database_file=None,
        redis_url="redis://127.0.0.1:6379/0",
        forwarded_allow_ips=("10.0.0.5",),
        metrics_allow=("127.0.0.1/32",),
        metrics_basic_auth=False,
        rate_limits=RateLimits(),
        tenant=Tenant("default", "Default", 0.0),
        clients=(),
        keys=(),
        now=time.time(),
        database_settings=settings,
    )


def test_fsync_off_is_an_error_and_torn_pages_a_warning() -> None:
    sound = {name: ("on", "default") for name in POSTGRESQL_SETTINGS}
    assert not [f for f in examine(_deployment(sound)) if f.check.startswith("postgresql-")]
    weak = sound | {"fsync": ("off", "configuration file"), "full_page_writes": ("off", "configuration file")}
    found = {
        (f.severity, f.message.split(" (")[0]) for f in examine(_deployment(weak)) if f.check.startswith("postgresql-")
    }
    assert found == {
        ("error", "PostgreSQL runs with fsync = off"),
        ("warning", "PostgreSQL runs with full_page_writes = off"),
    }
    (fsync,) = [f for f in examine(_deployment(weak)) if f.severity == "error" and f.check == "postgresql-durability"]
    assert "set in: configuration file" in fsync.message and fsync.fix.startswith("ALTER SYSTEM SET fsync = on")
    # synchronous_commit has more values than on and off: only off lets a crash take commits back
    local = sound | {"synchronous_commit": ("local", "configuration file")}
    assert not [f for f in examine(_deployment(local)) if f.check.startswith("postgresql-")]
