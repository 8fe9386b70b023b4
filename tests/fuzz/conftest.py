"""Fixtures of the fuzz suite: one real, seeded Pixie server for the package (see :mod:`fuzz.target`), and the
figures printed at the end of the run.

The servers count every request and every 5xx as they sent it (:class:`fuzz.support.Tally`); the package ends by
asserting that no 5xx and no injected header was ever sent, whatever the tests checked one by one.

``PIXIE_FUZZ_SOAK=1`` multiplies the number of examples (see :func:`fuzz.support.examples`).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fuzz.support import SOAK, TALLY, FuzzServer
from fuzz.target import serve_fuzz_target


@pytest.fixture(scope="package")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    with serve_fuzz_target(tmp_path_factory.mktemp("fuzz")) as server:
        yield server
    assert TALLY.server_errors == [], TALLY.server_errors[:20]
    assert TALLY.bad_headers == [], TALLY.bad_headers[:20]


@pytest.fixture(scope="package")
def http(fuzz_server: FuzzServer) -> Iterator[httpx.Client]:
    """A plain back-channel client: no cookies, no redirects followed."""
    with fuzz_server.pixie.client() as client:
        yield client


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY.requests:
        mode = "soak" if SOAK else "ci"
        terminalreporter.write_line(f"fuzz ({mode}): {TALLY.summary()}")
