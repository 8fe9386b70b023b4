"""Delivering webhooks without ever slowing a sign-in.

:meth:`WebhookDispatcher.write` only appends the event sink's batches to a bounded queue (a full queue drops and
counts). A background task reads the queue, looks up the tenant's subscriptions (through the cached tenant
resolver), and starts one delivery task per matching subscription, at most ``concurrency`` at a time. A delivery
that fails (connection error, timeout, 408, 429 or 5xx) is retried with doubling back-off (1 s, 2 s, 4 s, 8 s by
default), then given up and counted; other 4xx answers are final.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Sequence

import httpx

from pixie.audit import audit_line
from pixie.events import FlowEvent
from pixie.tenancy import TenantResolver
from pixie.webhooks import SIGNATURE_HEADER, Webhook, open_secret, sign, webhooks_from_settings

__all__ = ["WebhookDispatcher"]

log = logging.getLogger("pixie.webhooks")
_RETRYABLE = {408, 425, 429}
_NO_HOOKS_TTL = 10.0
"""Seconds a tenant seen without webhooks is skipped: the tenant cache's own staleness bound."""


class WebhookDispatcher:
    def __init__(
        self,
        tenants: TenantResolver,
        master_key: bytes,
        *,
        capacity: int = 10_000,
        concurrency: int = 8,
        attempts: int = 5,
        backoff: float = 1.0,
        timeout: float = 5.0,
    ) -> None:
        self._tenants = tenants
        self._master_key = master_key
        self._queue: deque[FlowEvent] = deque()
        self._capacity = capacity
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._attempts = attempts
        self._backoff = backoff
        self._timeout = timeout
        self._deliveries: set[asyncio.Task[None]] = set()
        self._without_hooks: dict[str, float] = {}
        self.dropped = 0
        self.delivered = 0
        self.failed = 0

    def write(self, events: Sequence[FlowEvent]) -> None:
        """Queue a flushed batch of events (an :class:`~pixie.events.EventOutlet`; returns at once)."""
        # Most tenants have no webhooks: once the dispatcher has seen that (fresh for the tenant cache's lifetime),
        # their events are dropped here, without waking the dispatcher for each one.
        without_hooks, queue, now = self._without_hooks, self._queue, time.monotonic()
        for event in events:
            known = without_hooks.get(event.tenant_id)
            if known is not None and known > now:
                continue
            if len(queue) >= self._capacity:
                self.dropped += 1
                continue
            queue.append(event)
        if queue:
            self._wakeup.set()

    async def run(self) -> None:
        """Dispatch until cancelled; then cancel the deliveries still in flight."""
        async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as http:
            try:
                while True:
                    await self._wakeup.wait()
                    self._wakeup.clear()
                    while self._queue:
                        await self._dispatch(http, self._queue.popleft())
            finally:
                for task in list(self._deliveries):
                    task.cancel()
                for task in list(self._deliveries):
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def _dispatch(self, http: httpx.AsyncClient, event: FlowEvent) -> None:
        try:
            tenant = await self._tenants.resolve(event.tenant_id)
        except Exception:
            log.exception("webhooks: could not read tenant %s", event.tenant_id)
            return
        if tenant is None or not tenant.settings.webhooks:
            self._without_hooks[event.tenant_id] = time.monotonic() + _NO_HOOKS_TTL
            return
        self._without_hooks.pop(event.tenant_id, None)
        for hook in webhooks_from_settings(tenant.settings.webhooks):
            if hook.wants(event.kind):
                task = asyncio.create_task(self._deliver(http, tenant.id, hook, event))
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, http: httpx.AsyncClient, tenant_id: str, hook: Webhook, event: FlowEvent) -> None:
        delivery_id = secrets.token_hex(16)
        body = ('{"id":"' + delivery_id + '","event":' + audit_line(event) + "}").encode("utf-8")
        try:
            secret = open_secret(self._master_key, tenant_id, hook)
        except Exception:
            self.failed += 1
            log.error("webhooks: the secret for %s cannot be opened (another master key?)", hook.url)
            return
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "pixie-webhooks",
                "Pixie-Webhook-Id": delivery_id,
                "Pixie-Attempt": str(attempt + 1),
                SIGNATURE_HEADER: sign(secret, body),
            }
            async with self._slots:
                try:
                    response = await http.post(hook.url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    log.warning("webhook %s attempt %d failed: %s", hook.url, attempt + 1, type(exc).__name__)
                    continue
            if response.status_code < 300:
                self.delivered += 1
                return
            if response.status_code < 500 and response.status_code not in _RETRYABLE:
                break
            log.warning("webhook %s attempt %d answered %d", hook.url, attempt + 1, response.status_code)
        self.failed += 1
        log.error("webhook %s: gave up on delivery %s (%s)", hook.url, delivery_id, event.kind)
