"""The signing-key ring of each tenant: next → active → retiring → retired.

A key is published in the JWKS as ``next`` before it signs anything, so resource servers that cache the JWKS
already know it when rotation makes it ``active``; the previous active key stays published as ``retiring`` until
every token it signed has expired, then becomes ``retired`` (kept for audit, no longer published). ``kid`` is the
RFC 7638 thumbprint. Private keys are stored encrypted (AES-256-GCM under a key derived from the master key, with
tenant and kid as associated data), each with the fingerprint of the master key that sealed it (``sealed_by``), so
that a process given another master key is stopped at start-up (:meth:`KeyRing.check_master_key`) instead of
failing every token request; :func:`reseal_keys` moves them to a new master key (``pixie secret rotate``).

A tenant's ring may hold keys of several algorithms (its ``signing_alg`` for every token, and another that a client
asked for its ID tokens, such as RS256, which OpenID Connect Core §15.1 requires an OpenID Provider to offer): each
algorithm has its own next → active → retiring line, rotated together.

Signers and JWK sets are cached per tenant: for ``cache_ttl`` seconds, or, once the ring follows a
:class:`~pixie.storage.cache.DirectoryWatch` (as a server's does), until the tenant's keys change. Another
instance's rotation is picked up within that bound, and since the new key was published as ``next`` beforehand, a
token signed meanwhile with the old key still verifies (the old key is ``retiring``, still in the JWKS). A private
key, once decrypted and parsed, is kept by ``kid`` beyond that: a kid names one key pair for good (RFC 7638), so
reading a tenant's keys again after a change does not decrypt and parse them again.
"""

from __future__ import annotations

import builtins
import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pixie.config import MasterKeyMismatch
from pixie.security import DecryptionFailed, decrypt_at_rest, derive_key, encrypt_at_rest, key_fingerprint
from pixie.storage.cache import DirectoryWatch, RecentCache
from pixie.storage.interfaces import KeyStore
from pixie.storage.records import DirectoryChange, SigningKey
from pixie.tokens import signing
from pixie.types import KeyState, TenantId, Timestamp

__all__ = ["KeyRing", "RotationConflict", "RotationReport", "Signer", "describe_fingerprints", "reseal_keys"]

_PUBLISHED = (KeyState.NEXT, KeyState.ACTIVE, KeyState.RETIRING)
_WRAP_PURPOSE = "pixie signing keys at rest v1"


@dataclass(frozen=True)
class Signer:
    """The key that signs a tenant's tokens right now (one prepared header per ``typ``)."""

    kid: str
    alg: str
    key: signing.PrivateKey
    _prepared: dict[str, signing.CompactSigner] = field(default_factory=dict, compare=False, repr=False)

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        prepared = self._prepared.get(typ)
        if prepared is None:
            prepared = signing.CompactSigner(self.key, {"alg": self.alg, "kid": self.kid, "typ": typ})
            self._prepared[typ] = prepared
        return prepared.sign(claims)


class RotationConflict(RuntimeError):
    """Another instance rotated the tenant's keys at the same moment; its rotation stands, this one did nothing."""


@dataclass(frozen=True)
class RotationReport:
    activated: str
    demoted: str | None
    new_next: str
    retired: tuple[str, ...]


class KeyRing:
    """Keys of every tenant, backed by a :class:`KeyStore`. One per app instance (built by the composition root)."""

    def __init__(
        self,
        store: KeyStore,
        master_key: bytes,
        *,
        cache_ttl: float = 30.0,
        max_tenants: int = 50_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._wrap_key = derive_key(master_key, _WRAP_PURPOSE)
        self.fingerprint = key_fingerprint(master_key)
        """The master key's fingerprint, recorded as ``sealed_by`` on every key this ring stores."""
        self._max_tenants = max_tenants
        self._clock = clock
        self._follow(cache_ttl, None)
        # Parsed private keys by (tenant, kid): immutable, so kept across changes (bounded, least recently used out).
        self._parsed: RecentCache[tuple[TenantId, str], Signer] = RecentCache(
            ttl=math.inf, max_entries=2 * max_tenants, clock=clock
        )

    def _follow(self, ttl: float, watch: DirectoryWatch | None) -> None:
        # Per tenant: its signer for each algorithm asked for (None: the tenant's own), and its JWK set.
        self._signers: RecentCache[TenantId, dict[str | None, Signer]] = RecentCache(
            ttl=ttl, max_entries=self._max_tenants, watch=watch, clock=self._clock
        )
        self._jwks: RecentCache[TenantId, dict[str, Any]] = RecentCache(
            ttl=ttl, max_entries=self._max_tenants, watch=watch, clock=self._clock
        )

    def follow(self, watch: DirectoryWatch, *, ttl: float = 600.0) -> None:
        """Keep signers and JWK sets until the watch reports a change of the tenant's keys (or ``ttl`` passes), in
        place of the ring's ``cache_ttl``. Called once, by the server's composition root."""
        self._follow(ttl, watch)
        watch.subscribe(self._changed)

    def _changed(self, change: DirectoryChange | None) -> None:
        if change is None:
            self._signers.clear()
            self._jwks.clear()
        elif change.kind == "key":
            self.invalidate(change.tenant_id)

    def invalidate(self, tenant_id: TenantId) -> None:
        self._signers.discard(tenant_id)
        self._jwks.discard(tenant_id)

    async def list(self, tenant_id: TenantId) -> list[SigningKey]:
        return await self._store.list(tenant_id)

    async def sealed_by(self) -> set[str | None]:
        """Fingerprints of the master keys that sealed the stored keys of every tenant (None: not recorded)."""
        return set(await self._store.fingerprints())

    async def check_master_key(self, source: str) -> None:
        """Make sure this ring's master key is the one that sealed every stored key; ``source`` (where the key came
        from) goes into the error. Raises :class:`MasterKeyMismatch` naming both fingerprints, never a key.

        Keys stored before fingerprints were recorded (``sealed_by`` NULL) are opened one by one instead; when all
        open, their fingerprint is recorded, so the next check is one query.
        """
        counts = await self._store.fingerprints()
        others = [fingerprint for fingerprint in counts if fingerprint not in (None, self.fingerprint)]
        if others:
            raise MasterKeyMismatch(
                f"the master key from {source} (fingerprint {self.fingerprint}) did not seal this database's signing"
                f" keys (sealed by {describe_fingerprints(others)}): use the key that did"
            )
        if None not in counts:
            return
        unrecorded = [key for key in await self._store.list_all() if key.sealed_by is None]
        for key in unrecorded:
            try:
                decrypt_at_rest(self._wrap_key, key.private_key_encrypted, _context(key.tenant_id, key.kid))
            except DecryptionFailed:
                raise MasterKeyMismatch(
                    f"the master key from {source} (fingerprint {self.fingerprint}) cannot open this database's"
                    " signing keys (sealed by a key whose fingerprint was never recorded): use the key that did"
                ) from None
        await self._store.reseal([dataclasses.replace(key, sealed_by=self.fingerprint) for key in unrecorded])

    async def check_signer(self, tenant_id: TenantId, source: str) -> None:
        """Open the tenant's active key as a token request would; raise :class:`MasterKeyMismatch` when the master
        key cannot (a server must not start only to answer every token request with an error)."""
        try:
            await self.signer(tenant_id)
        except DecryptionFailed:
            raise MasterKeyMismatch(
                f"the master key from {source} (fingerprint {self.fingerprint}) cannot open the active signing key"
                f" of tenant {tenant_id!r}: use the key that sealed it"
            ) from None

    async def ensure(self, tenant_id: TenantId, alg: str = "ES256") -> bool:
        """Give a tenant an active and a next key of ``alg`` if it has no active key of ``alg``. True iff this call
        activated one.

        Safe when several instances start on a new database at once: the first key is added as ``next`` and the
        oldest ``next`` key is promoted with a compare-and-set, so exactly one becomes active.
        """
        alg = signing.canonical_alg(alg)
        if any(k.state is KeyState.ACTIVE for k in await self._list_alg(tenant_id, alg)):
            return False
        now = self._clock()
        keys = await self._list_alg(tenant_id, alg)
        if not any(k.state is KeyState.NEXT for k in keys):
            await self._add(tenant_id, alg, KeyState.NEXT, now)
            keys = await self._list_alg(tenant_id, alg)
        if any(k.state is KeyState.ACTIVE for k in keys):
            return False
        pending = [k for k in keys if k.state is KeyState.NEXT]
        activated = await self._store.set_state(tenant_id, pending[0].kid, KeyState.ACTIVE, now, expected=KeyState.NEXT)
        if activated:
            # Two instances can each see a different "oldest next" key (one was added after the other listed, with
            # an earlier timestamp) and both promote. Whoever activated checks afterwards; the later of the two sees
            # both and puts back all but the smallest kid (a compare-and-set: racing demotions agree). A demoted key
            # stays published as next, so anything it signed in that instant still verifies.
            active = sorted(k.kid for k in await self._list_alg(tenant_id, alg) if k.state is KeyState.ACTIVE)
            for kid in active[1:]:
                await self._store.set_state(tenant_id, kid, KeyState.NEXT, now, expected=KeyState.ACTIVE)
            activated = pending[0].kid == active[0] if active else activated
        if activated and len(pending) == 1:
            await self._add(tenant_id, alg, KeyState.NEXT, now)
        self.invalidate(tenant_id)
        return activated

    async def rotate(self, tenant_id: TenantId, *, alg: str = "ES256", retire_after: float = 3600.0) -> RotationReport:
        """Promote ``next`` to ``active``, demote ``active`` to ``retiring``, create a new ``next``, and retire keys
        that have been ``retiring`` for longer than ``retire_after`` seconds (set it above the longest access-token
        lifetime so no live token loses its key). Raises :class:`RotationConflict` when another rotation of the
        tenant ran at the same time (that rotation stands) or no ``next`` key had been published yet (one is now)."""
        now = self._clock()
        alg = signing.canonical_alg(alg)
        keys = await self._store.list(tenant_id)
        report = await self._rotate(tenant_id, _of_alg(keys, alg), alg, retire_after, now)
        await self._rotate_others(tenant_id, keys, alg, retire_after, now, every_seconds=0.0)
        if report is None:
            raise RotationConflict(
                f"tenant {tenant_id!r}: another rotation ran at the same time, or no next key was published yet;"
                " nothing was activated (run `pixie keys list`, rotate again later)"
            )
        return report

    async def rotate_if_due(
        self, tenant_id: TenantId, every_seconds: float, *, alg: str = "ES256", retire_after: float = 3600.0
    ) -> RotationReport | None:
        """:meth:`rotate` when the active key has signed for ``every_seconds`` (<= 0: never), else None.

        Safe for several instances at once: due-ness is judged from the same listing the rotation starts from, and
        the promotion of the ``next`` key is a compare-and-set in the database. Whoever loses gets None, and an
        instance that lists after a rotation sees a fresh active key, so a key is never promoted before it has
        been published as ``next``, and every rotation adds exactly one ``next`` key.
        """
        now = self._clock()
        alg = signing.canonical_alg(alg)
        keys = await self._store.list(tenant_id)
        await self._rotate_others(tenant_id, keys, alg, retire_after, now, every_seconds=every_seconds)
        if not _due(_of_alg(keys, alg), every_seconds, now):
            return None
        return await self._rotate(tenant_id, _of_alg(keys, alg), alg, retire_after, now)

    async def _rotate_others(
        self,
        tenant_id: TenantId,
        keys: Sequence[SigningKey],
        alg: str,
        retire_after: float,
        now: Timestamp,
        *,
        every_seconds: float,
    ) -> None:
        """Rotate the lines of the algorithms other than ``alg`` that have an active key (``every_seconds`` > 0:
        only those due), so that a key kept for ID tokens ages like the tenant's main key."""
        others = sorted({k.alg for k in keys if k.state is KeyState.ACTIVE} - {alg})
        for other in others:
            line = _of_alg(keys, other)
            if every_seconds <= 0 or _due(line, every_seconds, now):
                await self._rotate(tenant_id, line, other, retire_after, now)

    async def _rotate(
        self, tenant_id: TenantId, keys: Sequence[SigningKey], alg: str, retire_after: float, now: Timestamp
    ) -> RotationReport | None:
        active = [k for k in keys if k.state is KeyState.ACTIVE]
        pending = [k for k in keys if k.state is KeyState.NEXT]
        if pending:
            activated = pending[0].kid
        elif active:
            # No published next key while one signs: another rotation is between its steps (or one was interrupted).
            # Never activate a key nobody has seen; publish one for a later rotation instead.
            await self._add(tenant_id, alg, KeyState.NEXT, now)
            self.invalidate(tenant_id)
            return None
        else:  # an empty ring: nothing was ever signed, so a new key may sign at once
            activated = await self._add(tenant_id, alg, KeyState.NEXT, now)
        if not await self._store.set_state(tenant_id, activated, KeyState.ACTIVE, now, expected=KeyState.NEXT):
            self.invalidate(tenant_id)
            return None
        for old in active:
            await self._store.set_state(tenant_id, old.kid, KeyState.RETIRING, now)
        retired = tuple(
            k.kid for k in keys if k.state is KeyState.RETIRING and (k.retired_at or k.created_at) + retire_after <= now
        )
        for kid in retired:
            await self._store.set_state(tenant_id, kid, KeyState.RETIRED, now)
        # One next key is enough: an extra one (left by two instances creating a tenant's first keys at once) is
        # promoted by the following rotation instead of piling up in the JWKS.
        new_next = pending[1].kid if len(pending) > 1 else await self._add(tenant_id, alg, KeyState.NEXT, now)
        self.invalidate(tenant_id)
        return RotationReport(
            activated=activated, demoted=active[-1].kid if active else None, new_next=new_next, retired=retired
        )

    async def retire_expired(self, tenant_id: TenantId, *, retire_after: float) -> tuple[str, ...]:
        """Move keys that have been ``retiring`` for ``retire_after`` seconds to ``retired`` (out of the JWKS)."""
        now = self._clock()
        retired = tuple(
            k.kid
            for k in await self._store.list(tenant_id)
            if k.state is KeyState.RETIRING and (k.retired_at or k.created_at) + retire_after <= now
        )
        for kid in retired:
            await self._store.set_state(tenant_id, kid, KeyState.RETIRED, now)
        if retired:
            self.invalidate(tenant_id)
        return retired

    async def rotation_due(self, tenant_id: TenantId, every_seconds: float) -> bool:
        """True when the active key has signed for ``every_seconds`` (``every_seconds`` <= 0: never)."""
        return _due(await self._store.list(tenant_id), every_seconds, self._clock())

    async def signer(self, tenant_id: TenantId, alg: str | None = None) -> Signer:
        """The active key of ``alg`` (any algorithm when None; the most recently activated one if a race left two).
        Raises ``LookupError`` when the tenant has none (call :meth:`ensure` first)."""
        cached = self._signers.get(tenant_id)
        if cached is not None:
            signer = cached[0].get(alg)
            if signer is not None:
                return signer
        epoch = self._signers.epoch()
        keys = [k for k in await self._store.list(tenant_id) if k.state is KeyState.ACTIVE]
        if alg is not None:
            keys = _of_alg(keys, signing.canonical_alg(alg))
        if not keys:
            raise LookupError(f"tenant {tenant_id!r} has no active {alg or ''} signing key")
        record = max(keys, key=lambda k: (k.activated_at or k.created_at, k.kid))
        parsed = self._parsed.get((tenant_id, record.kid))
        if parsed is not None and parsed[0].alg == record.alg:
            signer = parsed[0]
        else:
            pem = decrypt_at_rest(self._wrap_key, record.private_key_encrypted, _context(tenant_id, record.kid))
            signer = Signer(kid=record.kid, alg=record.alg, key=signing.load_private_key(record.alg, pem))
            self._parsed.put((tenant_id, record.kid), signer, 0)
        current = self._signers.get(tenant_id)
        self._signers.put(tenant_id, {**(current[0] if current is not None else {}), alg: signer}, epoch)
        published = self._jwks.get(tenant_id)
        if published is not None and not any(key.get("kid") == record.kid for key in published[0]["keys"]):
            # A key activated elsewhere (the CLI, another instance) since this JWK set was cached: never sign with a
            # key this instance does not publish yet, so a verifier that fetches the set from here finds it.
            self._jwks.discard(tenant_id)
        return signer

    async def signer_for(self, tenant_id: TenantId, alg: str) -> Signer:
        """The active key of ``alg``, made (published and activated, as :meth:`ensure` does) when the tenant has
        none yet: how a tenant gets its first key of an algorithm a client asked for."""
        try:
            return await self.signer(tenant_id, alg)
        except LookupError:
            await self.ensure(tenant_id, alg)
            return await self.signer(tenant_id, alg)

    async def _list_alg(self, tenant_id: TenantId, alg: str) -> builtins.list[SigningKey]:
        return _of_alg(await self._store.list(tenant_id), alg)

    async def jwks(self, tenant_id: TenantId) -> dict[str, Any]:
        """The published JWK set: next, active and retiring keys (RFC 7517 §5)."""
        cached = self._jwks.get(tenant_id)
        if cached is not None:
            return cached[0]
        epoch = self._jwks.epoch()
        keys = [k.public_jwk for k in await self._store.list(tenant_id) if k.state in _PUBLISHED]
        document = {"keys": keys}
        self._jwks.put(tenant_id, document, epoch)
        return document

    def first_keys(self, tenant_id: TenantId, alg: str = "ES256") -> tuple[SigningKey, SigningKey]:
        """A new tenant's ``active`` and ``next`` keys, made but not stored: bulk tenant creation writes them in the
        same transaction as the tenants (see ``TenantStore.create_many``)."""
        now = self._clock()
        return self._record(tenant_id, alg, KeyState.ACTIVE, now), self._record(tenant_id, alg, KeyState.NEXT, now)

    def _record(self, tenant_id: TenantId, alg: str, state: KeyState, now: Timestamp) -> SigningKey:
        alg = signing.canonical_alg(alg)
        key = signing.generate_private_key(alg)
        kid = signing.thumbprint(key)
        return SigningKey(
            tenant_id=tenant_id,
            kid=kid,
            alg=alg,
            state=state,
            private_key_encrypted=encrypt_at_rest(self._wrap_key, signing.private_pem(key), _context(tenant_id, kid)),
            public_jwk=signing.public_jwk(key, kid=kid, alg=alg),
            created_at=now,
            activated_at=now if state is KeyState.ACTIVE else None,
            sealed_by=self.fingerprint,
        )

    async def _add(self, tenant_id: TenantId, alg: str, state: KeyState, now: Timestamp) -> str:
        record = self._record(tenant_id, alg, state, now)
        await self._store.add(record)
        return record.kid


def _of_alg(keys: Iterable[SigningKey], alg: str) -> list[SigningKey]:
    return [k for k in keys if k.alg == alg]


def _due(keys: Sequence[SigningKey], every_seconds: float, now: Timestamp) -> bool:
    if every_seconds <= 0:
        return False
    active = [k for k in keys if k.state is KeyState.ACTIVE]
    return bool(active) and all((k.activated_at or k.created_at) + every_seconds <= now for k in active)


def _context(tenant_id: TenantId, kid: str) -> str:
    return f"signing-key:{tenant_id}:{kid}"


def describe_fingerprints(fingerprints: Iterable[str | None]) -> str:
    """``"1a2b…, 3c4d…"`` for a message; an unrecorded fingerprint (a key sealed before they were) is named so."""
    named = sorted({fingerprint or "an unrecorded key" for fingerprint in fingerprints})
    return ", ".join(named)


def reseal_keys(keys: Sequence[SigningKey], old_master_key: bytes, new_master_key: bytes) -> list[SigningKey]:
    """The keys to store (``KeyStore.reseal``, one transaction) to move ``keys`` from one master key to another:
    each key sealed by the old key (or before fingerprints were recorded) is opened and sealed again under the new
    one. A key already sealed by the new key, left by an interrupted rotation being finished, is checked and left
    out. Nothing is stored here; raises :class:`MasterKeyMismatch` for a key that neither master key opens, before
    anything has been changed."""
    old_wrap, new_wrap = derive_key(old_master_key, _WRAP_PURPOSE), derive_key(new_master_key, _WRAP_PURPOSE)
    new_fingerprint = key_fingerprint(new_master_key)
    resealed = []
    for key in keys:
        context = _context(key.tenant_id, key.kid)
        wrap = new_wrap if key.sealed_by == new_fingerprint else old_wrap
        try:
            pem = decrypt_at_rest(wrap, key.private_key_encrypted, context)
        except DecryptionFailed:
            raise MasterKeyMismatch(
                f"signing key {key.kid} of tenant {key.tenant_id!r} (sealed by {key.sealed_by or 'an unrecorded key'})"
                f" opens with neither the current master key ({key_fingerprint(old_master_key)}) nor the new one"
                f" ({new_fingerprint}); nothing was changed"
            ) from None
        if wrap is old_wrap:
            sealed = encrypt_at_rest(new_wrap, pem, context)
            resealed.append(dataclasses.replace(key, private_key_encrypted=sealed, sealed_by=new_fingerprint))
    return resealed
