"""``pixie doctor``: check the configuration this command sees — environment, settings, master key file and
database — against RFC 9700 (:mod:`pixie.doctor`); exit 1 when any finding is an error.

Run it with the environment the servers run with (``PIXIE_ISSUER``, ``PIXIE_REDIS_URL``, ...): it judges what it is
given. A setting that would keep a server from starting is itself an error finding, not a crash.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from pixie.cli.main import (
    cli,
    command_settings,
    database_option,
    open_storage,
    require_tenant,
    run_async,
    tenant_option,
)
from pixie.cli.output import echo_json, json_option
from pixie.config import MASTER_KEY_ENV, MASTER_KEY_FILE_ENV, ConfigError, key_file_beside
from pixie.doctor import POSTGRESQL_SETTINGS, Deployment, Finding, examine
from pixie.storage.schema.opening import postgresql_settings
from pixie.storage.schema.urls import normalize_url, sqlite_file

__all__ = ["doctor"]

_LABELS = {"error": "ERROR", "warning": "WARN ", "info": "INFO "}


def _key_file(database_url: str) -> Path | None:
    """Where the master key would be read from when it is a file (as :func:`pixie.config.load_master_key` looks)."""
    if os.environ.get(MASTER_KEY_ENV):
        return None
    context = click.get_current_context(silent=True)
    named = (context.meta.get("pixie.key_file") if context is not None else None) or os.environ.get(MASTER_KEY_FILE_ENV)
    if named:
        return Path(named).absolute()
    database = sqlite_file(database_url)
    return key_file_beside(database).absolute() if database is not None else None


def _mode(path: Path | None) -> int | None:
    try:
        return path.stat().st_mode & 0o777 if path is not None else None
    except OSError:
        return None


def _unloadable(error: ConfigError, key_file: Path | None) -> list[Finding]:
    """Findings for settings that do not load: what is wrong, and the key file's mode when that is the cause."""
    mode = _mode(key_file)
    if key_file is not None and mode is not None and mode & 0o077:
        return [
            Finding(
                "master-key-file-mode",
                "error",
                f"the master key file {key_file} is readable by others (mode {mode:o}); Pixie refuses to use it",
                "RFC 9700 §4.10 (stolen keys make tokens), Pixie security",
                f"chmod 600 {key_file}",
            )
        ]
    return [Finding("settings", "error", f"the settings do not load: {error}", "Pixie configuration", "see README")]


def _gather(database_url: str, issuer: str | None, tenant: str) -> Deployment | list[Finding]:
    key_file = _key_file(database_url)
    try:
        settings = command_settings(database_url, issuer=issuer)
    except ConfigError as exc:
        return _unloadable(exc, key_file)

    async def read() -> Deployment:
        async with open_storage(database_url, issuer=settings.issuer) as opened:
            await require_tenant(opened.storage, tenant)
            found = await opened.storage.tenants.get(tenant)
            assert found is not None
            source = opened.settings.master_key_source
            return Deployment(
                issuer=opened.settings.issuer,
                database_kind="postgresql" if normalize_url(database_url).startswith("postgresql") else "sqlite",
                master_key_env=source.env_var is not None,
                master_key_file=source.path,
                key_file_mode=_mode(source.path),
                database_file=sqlite_file(database_url),
                redis_url=opened.settings.redis_url,
                forwarded_allow_ips=opened.settings.forwarded_allow_ips,
                metrics_allow=opened.settings.metrics_allow,
                metrics_basic_auth=opened.settings.metrics_basic_auth is not None,
                rate_limits=opened.settings.rate_limits,
                tenant=found,
                clients=await opened.storage.clients.list(tenant),
                keys=await opened.keyring.list(tenant),
                now=time.time(),
                database_settings=await postgresql_settings(database_url, POSTGRESQL_SETTINGS),
            )

    return run_async(read())


@cli.command()
@click.option("--issuer", help="The public URL the servers use (default: PIXIE_ISSUER).")
@json_option
@tenant_option
@database_option
def doctor(issuer: str | None, as_json: bool, tenant: str, database_url: str) -> None:
    """Check this configuration against RFC 9700: issuer, master key, signing keys, token lifetimes, clients'
    redirect URIs and grace windows, proxy trust, rate limits, metrics and, on PostgreSQL, durable commits and
    autovacuum. Exit 1 when any finding is an error."""
    gathered = _gather(database_url, issuer, tenant)
    findings = examine(gathered) if isinstance(gathered, Deployment) else gathered
    errors = sum(1 for finding in findings if finding.severity == "error")
    if as_json:
        echo_json(
            {
                "tenant": tenant,
                "issuer": gathered.issuer if isinstance(gathered, Deployment) else None,
                "errors": errors,
                "findings": [finding.__dict__ for finding in findings],
            }
        )
    else:
        _echo(findings, tenant)
    if errors:
        click.echo(f"pixie: error: {errors} finding(s) of severity error (see above)", err=True)
        sys.exit(1)


def _echo(findings: list[Finding], tenant: str) -> None:
    if not findings:
        click.echo(f"pixie doctor: tenant {tenant!r}: no findings")
        return
    for finding in findings:
        click.echo(f"{_LABELS[finding.severity]}  {finding.message}")
        click.echo(f"       see {finding.reference}; fix: {finding.fix}")
    counts = {severity: sum(1 for f in findings if f.severity == severity) for severity in ("error", "warning", "info")}
    summary = f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} note(s)"
    click.echo(f"pixie doctor: tenant {tenant!r}: {summary}")
