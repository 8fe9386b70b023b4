"""Password checks run a bounded number at a time."""

from __future__ import annotations

import os

from pixie.server.context import password_check_slots


def test_password_checks_are_bounded_per_core() -> None:
    """Argon2id holds 64 MiB per check: at most one check per core (two at least) runs at once."""
    assert password_check_slots().total_tokens == max(2, os.cpu_count() or 1)
