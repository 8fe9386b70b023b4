"""The audit line's own encoding (timestamps exactly as ``datetime.isoformat`` writes them, valid JSON always) and
the log's two targets: a file written per batch, stderr written by a background task from a bounded queue."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixie.audit import AuditLog, _timestamp, audit_line
from pixie.events import LoginFailed, RefreshReuseDetected, TokenIssued


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_timestamps_match_isoformat(at: float) -> None:
    assert _timestamp(at) == datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def test_timestamps_of_consecutive_seconds_do_not_reuse_the_cached_second() -> None:
    assert _timestamp(1_700_000_000.5).startswith("2023-11-14T22:13:20.500")
    assert _timestamp(1_700_000_001.25).startswith("2023-11-14T22:13:21.250")
    assert _timestamp(1_700_000_000.75).startswith("2023-11-14T22:13:20.750")


@given(reason=st.text(max_size=60), client=st.none() | st.text(max_size=20))
def test_every_line_is_one_json_object_with_the_event_fields(reason: str, client: str | None) -> None:
    event = LoginFailed(tenant_id="acme", client_id=client, outcome="failure", error="access_denied", reason=reason)
    line = audit_line(event)
    assert "\n" not in line
    decoded = json.loads(line)
    assert decoded["event"] == "login_failed"
    assert decoded["client"] == client
    assert decoded["reason"] == reason
    assert decoded["ts"] == _timestamp(event.at)


def test_lines_carry_each_event_s_own_fields() -> None:
    issued = json.loads(audit_line(TokenIssued(tenant_id="t", grant_type="refresh_token", duration_ms=1.5)))
    assert (issued["grant_type"], issued["duration_ms"], issued["error"]) == ("refresh_token", 1.5, None)
    reuse = json.loads(audit_line(RefreshReuseDetected(tenant_id="t", family_id="fam-1", outcome="failure")))
    assert reuse["family_id"] == "fam-1"
    assert list(reuse)[:8] == ["ts", "event", "tenant", "client", "outcome", "error", "correlation_id", "duration_ms"]


async def test_a_file_gets_each_batch_at_once_in_order(tmp_path: Path) -> None:
    log = AuditLog(str(tmp_path / "audit.jsonl"))
    events = [TokenIssued(tenant_id="t", grant_type="client_credentials", at=10.0 + n) for n in range(300)]
    log.write(events[:200])
    log.write(events[200:])
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert [json.loads(line)["ts"] for line in lines] == [_timestamp(e.at) for e in events]
    log.close()
    log.write(events[:1])  # after close (a late flush while stopping): dropped and counted, never raised
    assert log.dropped == 1


async def test_stderr_is_written_by_the_background_task_and_a_full_queue_drops(
    capfdbinary: pytest.CaptureFixture[bytes],
) -> None:
    log = AuditLog("stderr", capacity=3)
    task = asyncio.create_task(log.run())
    log.write([LoginFailed(tenant_id="t", error="access_denied", reason="wrong password")])
    for _ in range(100):
        await asyncio.sleep(0.01)
        if b"login_failed" in capfdbinary.readouterr().err:
            break
    else:
        raise AssertionError("the line never reached stderr")
    log.write([TokenIssued(tenant_id="t", grant_type="refresh_token")] * 2)
    log.write([TokenIssued(tenant_id="t", grant_type="authorization_code")] * 2)  # 4 > 3 waiting: dropped
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    err = capfdbinary.readouterr().err.decode()
    assert err.count("refresh_token") == 2 and "authorization_code" not in err
    assert log.dropped == 2
