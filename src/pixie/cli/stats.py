"""``pixie stats``: the dashboard's numbers in the terminal (the same :func:`pixie.analytics.summarize`)."""

from __future__ import annotations

import json
import time

import click
from rich.console import Console
from rich.table import Table

from pixie.analytics import RANGES, Summary, range_window, summarize
from pixie.cli.main import cli, database_option, open_storage, run_async, tenant_option

__all__ = ["stats"]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value / 1000:.2f} s"


def _render(summary: Summary, tenant: str, range_name: str, client: str | None) -> None:
    console = Console()
    rate = summary.success_rate
    scope = f"tenant {tenant}" + (f", client {client}" if client else "")
    heading = f"Pixie flow analytics: {scope}, last {range_name}"
    console.print(f"[bold]{heading}[/bold]")

    funnel = Table(title="Sign-in funnel", title_justify="left")
    funnel.add_column("stage")
    funnel.add_column("flows", justify="right")
    funnel.add_column("of started", justify="right")
    started = summary.funnel[0][1]
    for stage, count in summary.funnel:
        funnel.add_row(stage, str(count), f"{100 * count / started:.0f} %" if started else "-")
    console.print(funnel)

    overview = Table(title="Overview", title_justify="left", show_header=False)
    overview.add_row("completion rate", "-" if rate is None else f"{100 * rate:.0f} %")
    overview.add_row("flow duration p50 / p95", f"{_ms(summary.flow_p50_ms)} / {_ms(summary.flow_p95_ms)}")
    overview.add_row("refresh rotations", str(summary.refreshes))
    overview.add_row("refresh reuse detected", str(summary.reuse_detected))
    for grant, count in summary.tokens_by_grant:
        overview.add_row(f"tokens ({grant})", str(count))
    overview.add_row("events read", str(summary.events))
    console.print(overview)

    failures = Table(title="Top failure reasons", title_justify="left")
    failures.add_column("reason")
    failures.add_column("count", justify="right")
    for reason, count in summary.failure_reasons or (("no failures", 0),):
        failures.add_row(reason, str(count))
    console.print(failures)


def _as_json(summary: Summary) -> str:
    return json.dumps(
        {
            "since": summary.since,
            "until": summary.until,
            "funnel": dict(summary.funnel),
            "completion_rate": summary.success_rate,
            "flow_p50_ms": summary.flow_p50_ms,
            "flow_p95_ms": summary.flow_p95_ms,
            "failure_reasons": dict(summary.failure_reasons),
            "tokens_by_grant": dict(summary.tokens_by_grant),
            "refresh_rotations": summary.refreshes,
            "refresh_reuse_detected": summary.reuse_detected,
            "events": summary.events,
        },
        indent=2,
    )


@cli.command()
@click.option("--range", "range_name", type=click.Choice(list(RANGES)), default="24h", show_default=True)
@click.option("--client", "client_id", help="Only this client's flows.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@tenant_option
@database_option
def stats(range_name: str, client_id: str | None, as_json: bool, tenant: str, database_url: str) -> None:
    """Print the sign-in funnel, failure reasons and flow durations (the numbers /admin charts)."""

    async def read() -> Summary:
        async with open_storage(database_url) as opened:
            since, until, buckets = range_window(range_name, time.time())
            events = await opened.storage.events.query(tenant, since, until)
            return summarize(events, since=since, until=until, buckets=buckets, client_id=client_id)

    summary = run_async(read())
    if as_json:
        click.echo(_as_json(summary))
    else:
        _render(summary, tenant, range_name, client_id)
