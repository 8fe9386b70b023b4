"""The event sink: non-blocking, bounded, batched into the real event store (both backends)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pixie.events import BufferedEventSink, FlowEvent, RefreshReuseDetected, TokenIssued
from pixie.storage.interfaces import Storage
from pixie.storage.records import Event


async def test_events_reach_the_store_in_batches(storage: Storage) -> None:
    sink = BufferedEventSink(storage.events, batch=2)
    for n in range(5):
        sink.emit(TokenIssued(tenant_id="t1", client_id="spa", grant_type="authorization_code", at=1000.0 + n))
    sink.emit(RefreshReuseDetected(tenant_id="t1", client_id="spa", family_id="fam-9", at=1010.0))
    assert sink.pending == 6
    assert await sink.flush() == 6 and sink.pending == 0
    stored = await storage.events.query("t1", 0, 2000)
    assert [e.kind for e in stored] == ["token_issued"] * 5 + ["refresh_reuse_detected"]
    assert stored[0].detail == {"grant_type": "authorization_code"}
    assert stored[-1].outcome == "failure" and stored[-1].error == "invalid_grant"
    assert stored[-1].detail == {"family_id": "fam-9"}


async def test_full_buffer_drops_and_counts_instead_of_blocking(storage: Storage) -> None:
    sink = BufferedEventSink(storage.events, capacity=3)
    for _ in range(5):
        sink.emit(TokenIssued(tenant_id="t2", grant_type="client_credentials"))
    assert sink.pending == 3 and sink.dropped == 2


class BrokenStore:
    async def append(self, events: Sequence[Event]) -> None:
        raise RuntimeError("disk on fire")

    async def query(
        self, tenant_id: str, since: float, until: float, kinds: Sequence[str] | None = None
    ) -> list[Event]:
        return []


async def test_a_failing_store_never_reaches_the_caller() -> None:
    sink = BufferedEventSink(BrokenStore(), batch=10)
    sink.emit(TokenIssued(tenant_id="t3", grant_type="refresh_token"))
    assert await sink.flush() == 0
    assert sink.dropped == 1 and sink.pending == 0


async def test_background_task_flushes_and_flushes_again_on_cancel(storage: Storage) -> None:
    sink = BufferedEventSink(storage.events, interval=0.05)
    task = asyncio.create_task(sink.run())
    sink.emit(TokenIssued(tenant_id="t4", grant_type="authorization_code", at=5.0))
    for _ in range(50):
        await asyncio.sleep(0.02)
        if await storage.events.query("t4", 0, 10):
            break
    sink.emit(TokenIssued(tenant_id="t4", grant_type="authorization_code", at=6.0))
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(await storage.events.query("t4", 0, 10)) == 2


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail

    def write(self, events: Sequence[FlowEvent]) -> None:
        if self.fail:
            raise OSError("outlet down")
        self.batches.append([event.kind for event in events])


async def test_one_drain_feeds_every_outlet_and_the_store_and_counts_each_event_at_once(storage: Storage) -> None:
    counted: list[str] = []
    broken, audit = Recorder(fail=True), Recorder()
    sink = BufferedEventSink(storage.events, outlets=[broken, audit], count=lambda e: counted.append(e.kind), batch=2)
    sink.emit(TokenIssued(tenant_id="t5", grant_type="client_credentials", at=1.0))
    sink.emit(RefreshReuseDetected(tenant_id="t5", family_id="f", at=2.0))
    sink.emit(TokenIssued(tenant_id="t5", grant_type="refresh_token", at=3.0))
    assert counted == ["token_issued", "refresh_reuse_detected", "token_issued"]  # counted before any flush
    assert audit.batches == []
    assert await sink.flush() == 3
    # In emission order, in the store's batches; the failing outlet neither stops the others nor the store.
    assert audit.batches == [["token_issued", "refresh_reuse_detected"], ["token_issued"]]
    assert [e.created_at for e in await storage.events.query("t5", 0, 10)] == [1.0, 2.0, 3.0]
    assert sink.dropped == 0


async def test_a_failing_counter_costs_the_event_nothing(storage: Storage) -> None:
    def count(event: FlowEvent) -> None:
        raise KeyError("metrics broken")

    sink = BufferedEventSink(storage.events, count=count)
    sink.emit(TokenIssued(tenant_id="t6", grant_type="client_credentials", at=1.0))
    assert await sink.flush() == 1
    assert len(await storage.events.query("t6", 0, 10)) == 1


async def test_a_flush_takes_only_what_was_buffered_when_it_began(storage: Storage) -> None:
    """Events emitted while a flush is writing (requests go on during each commit) wait for the next flush, so a
    busy server writes full batches every interval instead of a row of a few events every turn of the loop."""
    sizes: list[int] = []

    class Busy:
        """The real store, with requests emitting events while each batch is being written."""

        async def append(self, events: Sequence[FlowEvent]) -> None:
            sizes.append(len(events))
            if len(sizes) <= 6:  # a bounded burst, so a flush that chases new events ends (and fails) too
                for _ in range(3):
                    sink.emit(TokenIssued(tenant_id="t7", grant_type="client_credentials"))
            await storage.events.append(events)

    sink = BufferedEventSink(Busy(), batch=4)  # type: ignore[arg-type]
    for _ in range(10):
        sink.emit(TokenIssued(tenant_id="t7", grant_type="client_credentials"))
    assert await sink.flush() == 10
    assert sizes == [4, 4, 2]
    assert sink.pending == 9  # emitted during the three writes: the next flush's
    assert await sink.flush() == 9
    assert sizes == [4, 4, 2, 4, 4, 1]
    assert len(await storage.events.query("t7", 0, 10**10)) == 19
