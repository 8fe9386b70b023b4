"""``pixie serve`` freezes its start-up heap, so full garbage collections under load stay short (issue 10: a
collection walking every start-up object took ~64 ms and stalled every request in flight)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

_PROBE = textwrap.dedent(
    """
    import asyncio, gc, json
    from pixie.server.app import app_from_env, create_app
    from pixie.config import Settings

    async def main():
        report = {}
        for name, app in (("plain", create_app(Settings.from_env())), ("served", app_from_env())):
            async with app.router.lifespan_context(app):
                report[name] = {"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())}
        print(json.dumps(report))

    asyncio.run(main())
    """
)


def test_the_served_app_freezes_its_start_up_heap(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXIE_")}
    env.update(
        {
            "PIXIE_DATABASE_URL": f"sqlite:///{tmp_path / 'pixie.db'}",
            "PIXIE_SECRET_FILE": str(tmp_path / "pixie.secret"),
            "PIXIE_AUDIT_LOG": "off",
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # create_app alone (tests, embedding) leaves the collector as it was; the server's factory freezes.
    assert report["plain"]["frozen"] == 0
    assert report["served"]["frozen"] > 50_000
    # What a full collection still walks is a small fraction of what start-up built.
    assert report["served"]["tracked"] < report["served"]["frozen"] / 10
