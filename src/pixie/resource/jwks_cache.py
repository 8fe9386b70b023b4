"""The issuer's signing keys, fetched once and refreshed with care.

* **Fetched once**, on first use, then served from memory.
* **Unknown ``kid``** (the issuer rotated keys): refresh, but at most once per ``min_refresh_interval`` (30 s) —
  a flood of tokens with made-up ``kid`` values costs the issuer one request per interval, not one per token.
* **Single-flight**: concurrent misses share one in-flight fetch.
* **Stale-while-revalidate**: after ``max_age`` the set is refreshed in the background while the old keys keep
  answering; when the issuer is down the old keys are served (a warning is logged) until ``max_stale``.
* **Discovery**: :meth:`JWKSCache.discover` finds ``jwks_uri`` in the issuer's RFC 8414 metadata and insists that
  the document's ``issuer`` equals the configured one exactly (RFC 8414 §3.3), so a look-alike metadata document
  cannot point the cache at foreign keys.

Until a first set has been loaded a failed fetch is retried after at most 5 s; with no keys at all, lookups raise
:class:`pixie.errors.TemporarilyUnavailable` (503) rather than calling a possibly fine token invalid.

Spec: RFC 7517 §5 (JWK set), RFC 8414 §3 (metadata), RFC 8725 §3.10 (do not trust header key references).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from pixie.errors import InvalidToken, TemporarilyUnavailable
from pixie.resource.jws import JWSError, VerificationKey, VerificationKeys

__all__ = ["JWKSCache", "JWKSFetchError", "metadata_url", "parse_jwks"]

log = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 256 * 1024
FIRST_LOAD_RETRY = 5.0


class JWKSFetchError(Exception):
    """The JWK set or the metadata could not be fetched or was not acceptable. Safe to log."""


def metadata_url(issuer: str) -> str:
    """Where an issuer's RFC 8414 metadata lives: the well-known segment goes between host and path.

    Spec: RFC 8414 §3.1.
    """
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("the issuer must be an http(s) URL without query or fragment (RFC 8414 §2)")
    return f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{parts.path.rstrip('/')}"


def parse_jwks(document: object) -> VerificationKeys:
    """The usable verification keys of a JWK set (imported by :mod:`pixie.resource.jws`). Keys that cannot be used
    (symmetric, unknown type or curve, short RSA) are skipped, as RFC 7517 §5 asks; a set with no usable key is an
    error.

    Spec: RFC 7517 §5.
    """
    try:
        keys = VerificationKeys.from_jwks(document)
    except JWSError as exc:
        raise JWKSFetchError(str(exc)) from None
    if isinstance(document, Mapping) and len(keys) < len(document["keys"]):
        log.debug("skipped %d unusable JWK(s)", len(document["keys"]) - len(keys))
    return keys


async def _get_json(http: httpx.AsyncClient, url: str, seconds: float) -> Any:
    try:
        async with http.stream("GET", url, headers={"Accept": "application/json"}, timeout=seconds) as response:
            if response.status_code != 200:
                raise JWKSFetchError(f"GET {url} answered {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise JWKSFetchError(f"GET {url}: document larger than {MAX_DOCUMENT_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise JWKSFetchError(f"GET {url} failed: {type(exc).__name__}") from None
    try:
        return json.loads(bytes(body))
    except ValueError:
        raise JWKSFetchError(f"GET {url}: not JSON") from None


class JWKSCache:
    """Signing keys of one issuer. ``http`` is borrowed (never closed here); without it the cache opens its own
    client, closed by :meth:`aclose`. ``clock`` is monotonic seconds (injectable for tests).

    Spec: RFC 7517 §5, RFC 8414 §3.
    """

    def __init__(
        self,
        jwks_uri: str,
        *,
        http: httpx.AsyncClient | None = None,
        min_refresh_interval: float = 30.0,
        max_age: float = 300.0,
        max_stale: float = 86400.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min_refresh_interval < 0 or max_age <= 0 or max_stale < max_age:
            raise ValueError("need min_refresh_interval >= 0 and 0 < max_age <= max_stale")
        self.jwks_uri: str | None = jwks_uri or None
        self.issuer: str | None = None
        self.min_refresh_interval = min_refresh_interval
        self.max_age = max_age
        self.max_stale = max_stale
        self.fetches = 0
        """Fetch attempts so far (successful or not): observable, e.g. in tests and metrics."""
        self._timeout = timeout
        self._clock = clock
        self._http = http
        self._own_http: httpx.AsyncClient | None = None
        self._keys = VerificationKeys(())
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        self._inflight: asyncio.Task[None] | None = None

    @classmethod
    def discover(
        cls,
        issuer: str,
        *,
        http: httpx.AsyncClient | None = None,
        min_refresh_interval: float = 30.0,
        max_age: float = 300.0,
        max_stale: float = 86400.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> JWKSCache:
        """A cache whose ``jwks_uri`` is read from ``issuer``'s RFC 8414 metadata on the first fetch.

        Spec: RFC 8414 §3.1 (location), §3.3 (``issuer`` must match exactly).
        """
        metadata_url(issuer)  # fail now on an unusable issuer URL
        cache = cls(
            "",
            http=http,
            min_refresh_interval=min_refresh_interval,
            max_age=max_age,
            max_stale=max_stale,
            timeout=timeout,
            clock=clock,
        )
        cache.issuer = issuer
        return cache

    async def key_for(self, kid: str | None, alg: str) -> VerificationKey:
        """The key that checks a token signed with ``alg`` under ``kid``, refreshing the set if ``kid`` is unknown
        (rate-limited). Without ``kid`` the set must hold exactly one key fit for ``alg``.

        Spec: RFC 7515 §4.1.4 (``kid``), RFC 7517 §4.5, RFC 8725 §3.10.
        """
        now = self._clock()
        if self._loaded_at is None or now - self._loaded_at > self.max_stale:
            await self._refresh(now)
            if self._loaded_at is None or self._clock() - self._loaded_at > self.max_stale:
                raise TemporarilyUnavailable("the token issuer's signing keys cannot be fetched; try again later")
        elif now - self._loaded_at > self.max_age and self._may_fetch(now):
            self._start_fetch(now)  # revalidate in the background; the current keys keep answering
        key = self._keys.find(kid, alg)
        if key is None and (self._inflight is not None or self._may_fetch(now)):
            await self._refresh(now)
            key = self._keys.find(kid, alg)
        if key is None:
            raise InvalidToken("the token was signed with an unknown key")
        return key

    def _may_fetch(self, now: float) -> bool:
        if self._attempted_at is None:
            return True
        interval = self.min_refresh_interval if self._loaded_at is not None else FIRST_LOAD_RETRY
        return now - self._attempted_at >= min(interval, self.min_refresh_interval)

    async def _refresh(self, now: float) -> None:
        """Join the in-flight fetch, or start one if the rate limit allows; never raises."""
        task = self._inflight
        if task is None:
            if not self._may_fetch(now):
                return
            task = self._start_fetch(now)
        # shield: a caller that gives up (client disconnect) must not cancel the fetch others wait for.
        await asyncio.shield(task)

    def _start_fetch(self, now: float) -> asyncio.Task[None]:
        self._attempted_at = now
        task = asyncio.get_running_loop().create_task(self._fetch())
        self._inflight = task
        task.add_done_callback(self._fetch_done)
        return task

    def _fetch_done(self, task: asyncio.Task[None]) -> None:
        if self._inflight is task:
            self._inflight = None

    async def _fetch(self) -> None:
        self.fetches += 1
        try:
            http = self._client()
            if self.jwks_uri is None:
                self.jwks_uri = await self._discover(http)
            keys = parse_jwks(await _get_json(http, self.jwks_uri, self._timeout))
        except JWKSFetchError as exc:
            state = "serving the previous keys" if self._loaded_at is not None else "no keys yet"
            log.warning("JWK set refresh failed (%s): %s", state, exc)
            return
        except Exception:  # a bug must not leave waiters hanging or keys half-replaced
            log.exception("JWK set refresh failed unexpectedly")
            return
        self._keys = keys
        self._loaded_at = self._clock()

    async def _discover(self, http: httpx.AsyncClient) -> str:
        assert self.issuer is not None
        document = await _get_json(http, metadata_url(self.issuer), self._timeout)
        if not isinstance(document, Mapping) or document.get("issuer") != self.issuer:
            raise JWKSFetchError("the metadata's issuer does not equal the configured issuer (RFC 8414 §3.3)")
        jwks_uri = document.get("jwks_uri")
        scheme = urlsplit(self.issuer).scheme
        if not isinstance(jwks_uri, str) or urlsplit(jwks_uri).scheme not in ({"https"} | {scheme}):
            raise JWKSFetchError("the metadata has no usable jwks_uri")
        return jwks_uri

    def _client(self) -> httpx.AsyncClient:
        if self._http is not None:
            return self._http
        if self._own_http is None:
            self._own_http = httpx.AsyncClient(follow_redirects=False, timeout=self._timeout)
        return self._own_http

    async def aclose(self) -> None:
        """Wait for a running fetch and close the cache's own HTTP client."""
        if self._inflight is not None:
            await asyncio.shield(self._inflight)
        if self._own_http is not None:
            await self._own_http.aclose()
            self._own_http = None
