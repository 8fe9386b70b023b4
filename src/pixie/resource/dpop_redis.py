"""A DPoP replay window in Redis, shared by every instance of a resource server (or gateway).

Each proof is one key, set only if absent and expiring with the proof's window (``SET … NX PXAT``): atomic on the
Redis server, so of two instances that receive the same proof exactly one accepts it. Needs the ``redis`` package
(installed with ``pixie-oauth[server]``).

Spec: RFC 9449 §11.1.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RedisReplayCache"]


class RedisReplayCache:
    """Remembers proofs in Redis at ``url`` (``redis://host:port/db``) under ``prefix``. A Redis that cannot be
    reached refuses the proof (answered as a replay), never accepts it unchecked."""

    def __init__(self, url: str, *, prefix: str = "pixie:dpop:", timeout: float = 0.5) -> None:
        from redis.asyncio import Redis  # the lean install has no redis: imported when this cache is used

        self._redis: Any = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._prefix = prefix

    async def first_use(self, key: str, expires_at: float) -> bool:
        from redis.exceptions import RedisError

        try:
            stored = await self._redis.set(self._prefix + key, b"1", nx=True, pxat=int(expires_at * 1000) + 1)
        except RedisError:
            return False
        return bool(stored)

    async def aclose(self) -> None:
        await self._redis.aclose()
