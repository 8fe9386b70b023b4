"""``pixie doctor`` on registration: open registration without a per-address limit is an error, with one an info;
fetching client metadata documents from loopback is an error behind an https issuer.

Spec: RFC 7591 §5; draft-ietf-oauth-client-id-metadata-document §6.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from livesupport import cli_env, run_pixie

GOOD = {
    "PIXIE_SECRET_KEY": "E" * 43,
    "PIXIE_ISSUER": "https://auth.example.com",
    "PIXIE_FORWARDED_ALLOW_IPS": "10.0.0.5",
}


def _doctor(env: dict[str, str]) -> tuple[int, dict[str, dict[str, Any]]]:
    result = run_pixie(["doctor", "--json"], env)
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    return result.returncode, {finding["check"]: finding for finding in report["findings"]}


def _ok(args: list[str], env: dict[str, str]) -> None:
    result = run_pixie(args, env)
    assert result.returncode == 0, result.stderr


def test_registration_findings(tmp_path: Path) -> None:
    env = cli_env(tmp_path, f"sqlite:///{tmp_path / 'reg.db'}", GOOD)
    _ok(["tenants", "settings", "default", "--registration", "open"], env)
    code, found = _doctor(env)
    assert code == 0 and found["registration-open"]["severity"] == "info"
    code, found = _doctor({**env, "PIXIE_RATE_LIMIT_REGISTER_IP": ""})
    assert code == 1 and found["registration-rate-limit"]["severity"] == "error"
    assert "registration-open" not in found
    _ok(["tenants", "settings", "default", "--registration", "off"], env)
    _ok(["tenants", "settings", "default", "--client-metadata-documents", "--insecure-client-metadata-loopback"], env)
    code, found = _doctor(env)
    assert code == 1 and found["client-metadata-loopback"]["severity"] == "error"
    assert found["client-metadata-loopback"]["fix"].endswith("--no-insecure-client-metadata-loopback")
    _ok(["tenants", "settings", "default", "--no-insecure-client-metadata-loopback"], env)
    code, found = _doctor(env)
    assert code == 0 and "client-metadata-loopback" not in found
