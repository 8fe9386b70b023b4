"""The pytest plugin of :mod:`pixie.testing` (registered under the ``pytest11`` entry point as ``pixie``).

Its fixtures are opt-in: nothing starts unless a test names one.

``pixie_server``   a running :class:`~pixie.testing.PixieTestServer`, shared by the session (started on first use,
                   stopped at the end). Tests sharing it should use their own client ids; ``add_user`` returns an
                   existing user, so each test may add the users it needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pixie.testing.server import PixieTestServer


@pytest.fixture(scope="session")
def pixie_server() -> Iterator[PixieTestServer]:
    """A real Pixie authorization server on a free loopback port with a temporary SQLite database."""
    try:
        from pixie.testing.server import PixieTestServer
    except ImportError as exc:  # the server extra is missing
        pytest.fail(f"pixie_server needs the server extra: pip install 'pixie-oauth[server]' ({exc})", pytrace=False)
    with PixieTestServer() as server:
        yield server
