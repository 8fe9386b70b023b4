"""Keeping a valid access token: early, single-flight refresh and pluggable persistence.

A :class:`TokenManager` (threads) or :class:`AsyncTokenManager` (asyncio/trio through anyio) hands out an access
token that will stay valid for a while, refreshing ``refresh_margin`` seconds (default 60) before it expires. However
many callers arrive at once, one of them refreshes and the others wait for its result: a public client's refresh token
rotates on every use, and a second, concurrent use of the old one would make the server revoke the whole family
(RFC 9700 §4.14.2). The rotated refresh token is saved before anyone gets the new access token.

The manager does no I/O of its own: it calls a *refresher* (``OAuthClient.refresh``, ``client_credentials``, ...)
with the current token set. Persistence is a :class:`TokenStore`: :class:`MemoryTokenStore`, or
:class:`FileTokenStore` (JSON, mode 0600, replaced atomically) so a command-line tool stays signed in across runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import anyio

from pixie.client.errors import ServerRefused
from pixie.client.models import TokenSet
from pixie.security import constant_time_equals

__all__ = [
    "AsyncRefresher",
    "AsyncTokenManager",
    "FileTokenStore",
    "MemoryTokenStore",
    "Refresher",
    "TokenManager",
    "TokenStore",
]

Refresher = Callable[[TokenSet | None], TokenSet]
AsyncRefresher = Callable[[TokenSet | None], Awaitable[TokenSet]]


class TokenStore(Protocol):
    """Where a manager keeps its token set. ``load`` is called once per manager; ``save`` after every refresh."""

    def load(self) -> TokenSet | None: ...

    def save(self, tokens: TokenSet) -> None: ...

    def clear(self) -> None: ...


class MemoryTokenStore:
    """Tokens for the life of the process."""

    def __init__(self, tokens: TokenSet | None = None) -> None:
        self._tokens = tokens

    def load(self) -> TokenSet | None:
        return self._tokens

    def save(self, tokens: TokenSet) -> None:
        self._tokens = tokens

    def clear(self) -> None:
        self._tokens = None


class FileTokenStore:
    """Tokens in a JSON file only its owner can read (0600), for tools that must stay signed in across runs.

    Writes go to a temporary file created 0600 in the same directory (never a moment with wider permissions, whatever
    the umask), synced, then renamed over the old file, so a crash leaves the old tokens or the new ones, never half
    a file. ``binding`` (for example issuer, client id and scope) is stored alongside; a file written under another
    binding loads as empty. A file that others can read is refused, as ssh refuses such a key.

    Single-flight holds within one process: two processes refreshing from the same file at the same moment would
    both present the same refresh token, and a strict server revokes the family (the next run then signs in again).
    """

    def __init__(self, path: str | os.PathLike[str], *, binding: str | None = None) -> None:
        self.path = Path(path).expanduser()
        self.binding = binding

    def load(self) -> TokenSet | None:
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return None
        if os.name == "posix" and mode & 0o077:
            raise PermissionError(f"{self.path} can be read by other users (mode {mode & 0o777:o}); chmod 600 it")
        try:
            document: Any = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(document, dict) or document.get("binding") != self.binding:
                return None
            return TokenSet.from_dict(document["tokens"])
        except (ValueError, KeyError, TypeError):
            return None  # a damaged file means "not signed in"; the next save replaces it

    def save(self, tokens: TokenSet) -> None:
        directory = self.path.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = json.dumps({"version": 1, "binding": self.binding, "tokens": tokens.to_dict()}, indent=2)
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        if os.name == "posix":  # make the rename itself durable
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class _Holder:
    """What both managers share: the cached token set, the freshness rule and how a refresh result is kept."""

    def __init__(self, store: TokenStore | None, tokens: TokenSet | None, refresh_margin: float) -> None:
        if refresh_margin < 0:
            raise ValueError("refresh_margin must not be negative")
        self.store: TokenStore = store if store is not None else MemoryTokenStore()
        self.refresh_margin = refresh_margin
        if tokens is not None:
            self.store.save(tokens)
        self._tokens: TokenSet | None = None
        self._loaded = False

    @property
    def tokens(self) -> TokenSet | None:
        """The current token set (None when signed out)."""
        if not self._loaded:
            self._tokens, self._loaded = self.store.load(), True
        return self._tokens

    def fresh_token(self) -> str | None:
        """The access token if it needs no refresh yet; never blocks, never does I/O after the first load."""
        tokens = self.tokens
        if tokens is not None and tokens.is_fresh(self.refresh_margin):
            return tokens.access_token
        return None

    def _replacement(self, rejected: str | None) -> str | None:
        """After ``rejected`` was refused: the token another caller already put in its place, else None (refresh)."""
        tokens = self.tokens
        if rejected is None or tokens is None or constant_time_equals(tokens.access_token, rejected):
            return None
        return tokens.access_token if tokens.is_fresh(self.refresh_margin) else None

    def _keep(self, tokens: TokenSet) -> str:
        self.store.save(tokens)  # the rotated refresh token is on disk before anyone uses the new access token
        self._tokens, self._loaded = tokens, True
        return tokens.access_token

    def _refused(self, exc: BaseException) -> None:
        # invalid_grant: the refresh token is dead (expired, revoked, reused). Keeping it would only fail again.
        if isinstance(exc, ServerRefused) and exc.error == "invalid_grant":
            self.store.clear()
            self._tokens, self._loaded = None, True

    def set_tokens(self, tokens: TokenSet) -> None:
        """Adopt a token set obtained elsewhere (after a sign-in)."""
        self._keep(tokens)

    def clear(self) -> None:
        """Forget the tokens (sign out locally)."""
        self.store.clear()
        self._tokens, self._loaded = None, True


class TokenManager(_Holder):
    """Valid access tokens for threads: ``manager.access_token()`` refreshes early and single-flight.

    ``refresher(current)`` gets the current token set (None when there is none) and returns a new one; it may raise
    :class:`ServerRefused` (``invalid_grant`` also clears the store) or :class:`LookupError` (nothing to refresh).
    """

    def __init__(
        self,
        refresher: Refresher,
        *,
        store: TokenStore | None = None,
        tokens: TokenSet | None = None,
        refresh_margin: float = 60.0,
    ) -> None:
        super().__init__(store, tokens, refresh_margin)
        self._refresher = refresher
        self._lock = threading.Lock()

    def access_token(self) -> str:
        """An access token that is not due for refresh; refreshes first if needed (one caller at a time).

        Spec: RFC 6749 §6; RFC 9700 §4.14.2 (rotation: the old refresh token must not be used twice).
        """
        token = self.fresh_token()
        if token is not None:
            return token
        with self._lock:
            token = self.fresh_token()  # whoever held the lock before us may have refreshed already
            return token if token is not None else self._refresh_locked()

    def refresh(self, rejected: str | None = None) -> str:
        """Refresh now, because a resource server rejected ``rejected`` (RFC 6750 §3.1 ``invalid_token``). When
        another caller already replaced that token, its replacement is returned without a second refresh."""
        with self._lock:
            replacement = self._replacement(rejected)
            return replacement if replacement is not None else self._refresh_locked()

    def _refresh_locked(self) -> str:
        try:
            return self._keep(self._refresher(self.tokens))
        except Exception as exc:
            self._refused(exc)
            raise


class AsyncTokenManager(_Holder):
    """:class:`TokenManager` for async code: the same rules, an anyio lock, an awaitable refresher.

    The store is called directly (a small JSON write once per refresh), not in a worker thread.
    """

    def __init__(
        self,
        refresher: AsyncRefresher,
        *,
        store: TokenStore | None = None,
        tokens: TokenSet | None = None,
        refresh_margin: float = 60.0,
    ) -> None:
        super().__init__(store, tokens, refresh_margin)
        self._refresher = refresher
        self._lock = anyio.Lock()

    async def access_token(self) -> str:
        """Spec: RFC 6749 §6; RFC 9700 §4.14.2."""
        token = self.fresh_token()
        if token is not None:
            return token
        async with self._lock:
            token = self.fresh_token()
            return token if token is not None else await self._refresh_locked()

    async def refresh(self, rejected: str | None = None) -> str:
        """See :meth:`TokenManager.refresh`."""
        async with self._lock:
            replacement = self._replacement(rejected)
            return replacement if replacement is not None else await self._refresh_locked()

    async def _refresh_locked(self) -> str:
        try:
            return self._keep(await self._refresher(self.tokens))
        except Exception as exc:
            self._refused(exc)
            raise
