"""Every store's SQL, written once, and the stores that run it over either driver.

Each module holds the statements of one area (named parameters, rendered for SQLite and PostgreSQL by
:mod:`~pixie.storage.statements.dialect`) and the store classes that bind them, call the
:class:`~pixie.storage.statements.driver.Driver` and decode rows (:mod:`~pixie.storage.statements.codec`). The
drivers — :mod:`pixie.storage.sqlite`, :mod:`pixie.storage.pg` — add their connection layer and the two operations
whose atomicity each database gets its own way: refresh-token rotation, a code's redemption and the consent merge.

Nothing here imports a database driver: this package is protocol code, like the ports it implements.
"""

from __future__ import annotations

from pixie.storage.interfaces import CodeStore, ConsentStore, RefreshTokenStore, Storage
from pixie.storage.statements.admin_sessions import SqlAdminSessionStore
from pixie.storage.statements.authorization import SqlAuthorizationRequestStore
from pixie.storage.statements.changes import SqlDirectoryChanges
from pixie.storage.statements.directory import SqlClientStore, SqlTenantStore, SqlUserStore
from pixie.storage.statements.dpop import SqlProofReplayStore
from pixie.storage.statements.driver import Driver
from pixie.storage.statements.events import SqlEventStore
from pixie.storage.statements.keys import SqlKeyStore
from pixie.storage.statements.pushed import SqlPushedRequestStore
from pixie.storage.statements.refresh import SqlAccessTokenDenyList
from pixie.storage.statements.registration import SqlRegistrationTokenStore
from pixie.storage.statements.resources import SqlResourceStore
from pixie.storage.statements.sessions import SqlSessionStore

__all__ = ["sql_storage"]


def sql_storage(db: Driver, *, refresh: RefreshTokenStore, consents: ConsentStore, codes: CodeStore) -> Storage:
    """Every store on ``db``, with the driver's own refresh-token, consent and code stores."""
    return Storage(
        tenants=SqlTenantStore(db),
        clients=SqlClientStore(db),
        users=SqlUserStore(db),
        sessions=SqlSessionStore(db),
        consents=consents,
        requests=SqlAuthorizationRequestStore(db),
        codes=codes,
        refresh=refresh,
        denylist=SqlAccessTokenDenyList(db),
        proofs=SqlProofReplayStore(db),
        pushed=SqlPushedRequestStore(db),
        keys=SqlKeyStore(db),
        events=SqlEventStore(db),
        admin_sessions=SqlAdminSessionStore(db),
        registration_tokens=SqlRegistrationTokenStore(db),
        resources=SqlResourceStore(db),
        changes=SqlDirectoryChanges(db),
    )
