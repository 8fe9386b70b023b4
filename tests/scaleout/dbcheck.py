"""Consistency of refresh-token families, read straight from PostgreSQL after a fault.

Rotation marks a token used and inserts its successor in one transaction, so whatever happened to the process or
the connection, every family must be one unbroken chain:

* a used token names its successor, and the successor exists in the same family (no half-written rotation);
* an unused token names none, and no token is named by two predecessors (no second branch);
* following the chain from the family's only first token reaches every token (no orphan);
* a family that is not revoked has at most one live token — its tail — and every other token is used;
* every refresh token a client holds is in the database (looked up by SHA-256, the only form stored), and a token
  the client believes live is the live tail of a family that is not revoked.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import asyncpg
from sqlalchemy.engine import make_url

from spec.support import sha256_hex

__all__ = ["DatabaseReport", "FamilyState", "Held", "check_database", "count_events", "dsn", "family_state"]


@dataclass(frozen=True)
class Held:
    """A refresh token a client holds, and what the client believes of it (``live``: its last answer gave it this
    token; otherwise the server told it the family is gone)."""

    token: str
    live: bool


@dataclass
class DatabaseReport:
    families: int = 0
    tokens: int = 0
    held_checked: int = 0
    inconsistencies: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FamilyState:
    family_id: str
    revoked_reason: str | None
    live_tokens: int


def dsn(database_url: str) -> str:
    """The libpq form of an async SQLAlchemy URL (for asyncpg)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _rows(database_url: str) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    connection = await asyncpg.connect(dsn(database_url), timeout=10)
    try:
        families = await connection.fetch(
            "SELECT tenant_id, family_id, revoked_at, revoked_reason, absolute_expires_at FROM refresh_families"
        )
        tokens = await connection.fetch(
            "SELECT tenant_id, family_id, token_hash, expires_at, used_at, replaced_by_hash FROM refresh_tokens"
        )
    finally:
        await connection.close()
    return families, tokens


async def count_events(database_url: str, kind: str, client_id: str) -> int:
    connection = await asyncpg.connect(dsn(database_url), timeout=10)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM events WHERE kind = $1 AND client_id = $2", kind, client_id
        )
    finally:
        await connection.close()
    return count


async def family_state(database_url: str, refresh_token: str) -> FamilyState:
    families, tokens = await _rows(database_url)
    digest = sha256_hex(refresh_token)
    (token,) = [t for t in tokens if t["token_hash"] == digest]
    (family,) = [f for f in families if (f["tenant_id"], f["family_id"]) == (token["tenant_id"], token["family_id"])]
    now = time.time()
    live = sum(
        1
        for t in tokens
        if (t["tenant_id"], t["family_id"]) == (family["tenant_id"], family["family_id"])
        and family["revoked_at"] is None
        and t["used_at"] is None
        and t["expires_at"] > now
    )
    return FamilyState(family_id=family["family_id"], revoked_reason=family["revoked_reason"], live_tokens=live)


async def check_database(database_url: str, held: Iterable[Held] = ()) -> DatabaseReport:
    """Every invariant of the module docstring over the whole database; the report lists each violation."""
    families, tokens = await _rows(database_url)
    now = time.time()
    report = DatabaseReport(families=len(families), tokens=len(tokens))
    problems = report.inconsistencies
    by_hash = {(t["tenant_id"], t["token_hash"]): t for t in tokens}
    members: dict[tuple[str, str], list[asyncpg.Record]] = defaultdict(list)
    for t in tokens:
        members[(t["tenant_id"], t["family_id"])].append(t)
    family_rows = {(f["tenant_id"], f["family_id"]): f for f in families}

    named: dict[tuple[str, str], int] = defaultdict(int)
    for t in tokens:
        short = t["token_hash"][:12]
        if (t["tenant_id"], t["family_id"]) not in family_rows:
            problems.append(f"token {short} has no family")
        if t["used_at"] is None:
            if t["replaced_by_hash"] is not None:
                problems.append(f"unused token {short} names a successor")
            continue
        successor = by_hash.get((t["tenant_id"], t["replaced_by_hash"] or ""))
        if successor is None:
            problems.append(f"used token {short} has no successor row (half-written rotation)")
        elif successor["family_id"] != t["family_id"]:
            problems.append(f"successor of {short} is in another family")
        named[(t["tenant_id"], t["replaced_by_hash"] or "")] += 1
    problems.extend(f"token {h[:12]} is the successor of {n} tokens (a branch)" for (_, h), n in named.items() if n > 1)

    for key, family in family_rows.items():
        chain = members.get(key, [])
        firsts = [t for t in chain if named.get((t["tenant_id"], t["token_hash"]), 0) == 0]
        if len(firsts) != 1:
            problems.append(f"family {family['family_id'][:12]} has {len(firsts)} first tokens")
            continue
        seen, current = 0, firsts[0]
        while current is not None and seen <= len(chain):
            seen += 1
            current = by_hash.get((current["tenant_id"], current["replaced_by_hash"] or ""))
        if seen != len(chain):
            problems.append(f"family {family['family_id'][:12]}: chain reaches {seen} of {len(chain)} tokens")
        if family["revoked_at"] is None:
            live = [t for t in chain if t["used_at"] is None and t["expires_at"] > now]
            if len(live) > 1:
                problems.append(f"family {family['family_id'][:12]} has {len(live)} live tokens")

    by_digest = {t["token_hash"]: t for t in tokens}
    for item in held:
        report.held_checked += 1
        row = by_digest.get(sha256_hex(item.token))
        if row is None:
            problems.append("a client holds a refresh token the database does not know")
            continue
        family = family_rows.get((row["tenant_id"], row["family_id"]))
        if item.live and (row["used_at"] is not None or family is None or family["revoked_at"] is not None):
            problems.append(f"a client's current token {row['token_hash'][:12]} is used or revoked in the database")
        if not item.live and (family is None or family["revoked_at"] is None):
            problems.append(f"a client was refused but family {row['family_id'][:12]} is not revoked")
    return report
