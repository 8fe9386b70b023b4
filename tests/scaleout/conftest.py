"""Scale-out suite: several real ``pixie serve`` processes on one fresh PostgreSQL database.

The package creates its own database (``pixie_test_<random>``, dropped at the end), seeds it once and starts two
instances ``a`` and ``b`` with the same master key and the same public ``--issuer``, as a load balancer would front
them. Tests that kill, cut off or stop an instance start their own.

Default tenant: public clients ``app`` (strict; flows), ``dpop-app`` (DPoP-bound sign-ins), ``load-strict`` and
``load-grace`` (30 s grace; the crash-safety load), ``shutdown`` (graceful-shutdown test); confidential
client-credentials clients ``probe-disable``, ``probe-keys`` and ``probe-keys-b`` (staleness tests); user ``alice``.
Tenant ``acme`` with client ``probe-tenant``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pgsupport import temporary_postgres_database
from scaleout.staleness import StalenessWatch
from scaleout.support import Instance, running_all, seed


@pytest.fixture(scope="package")
async def scaleout_db() -> AsyncIterator[str]:
    """The package's own PostgreSQL database, migrated and seeded."""
    async with temporary_postgres_database() as url:
        await seed(url)
        yield url


@pytest.fixture(scope="package")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scaleout")


@pytest.fixture(scope="package")
def pair(scaleout_db: str, workdir: Path) -> Iterator[tuple[Instance, Instance]]:
    """Instances ``a`` and ``b``: two processes, one database, one issuer."""
    with running_all(["a", "b"], scaleout_db, workdir) as (a, b):
        yield a, b


@pytest.fixture(scope="package", autouse=True)
def staleness_watch(pair: tuple[Instance, Instance], scaleout_db: str, workdir: Path) -> StalenessWatch:
    """Started with the package's first test: the key-cache bound is 30 s, so the watch measures it while the
    other tests run (``test_staleness`` reads the results, and waits for them when run alone)."""
    watch = StalenessWatch(pair, scaleout_db, workdir)
    watch.start()
    return watch
