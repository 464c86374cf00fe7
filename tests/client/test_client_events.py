"""The event bus: streams subscribed at creation, callbacks (sync/async), wait_for, stop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from buzpo_nb.client.errors import ClientStopped
from buzpo_nb.client.events import ConnectionUpdate, EventBus, LoggedOut, QrCode


def qr(i: int) -> QrCode:
    return QrCode(code=f"ref{i},a,b,c", ref=f"ref{i}", index=i, remaining=5 - i, timeout=1.0)


async def test_stream_sees_events_emitted_after_creation_even_before_iteration() -> None:
    bus = EventBus()
    bus.emit(qr(0))  # before: not seen
    stream = bus.stream()
    bus.emit(qr(1))
    bus.emit(ConnectionUpdate("open"))
    bus.stop("done")
    got = [e async for e in stream]
    assert got == [qr(1), ConnectionUpdate("open")]


async def test_stream_next_times_out_and_reports_stop() -> None:
    bus = EventBus()
    stream = bus.stream()
    with pytest.raises(TimeoutError):
        await stream.next(timeout=0.01)
    bus.stop("bye")
    with pytest.raises(ClientStopped):
        await stream.next(timeout=1)


async def test_callbacks_sync_and_async_filtered_by_type() -> None:
    bus = EventBus()
    seen: list[object] = []
    done = asyncio.Event()

    async def on_logged_out(e: LoggedOut) -> None:
        seen.append(("async", e))
        done.set()

    remove = bus.on(QrCode, lambda e: seen.append(("sync", e)))
    bus.on(LoggedOut, on_logged_out)
    bus.emit(qr(0))
    bus.emit(ConnectionUpdate("open"))
    bus.emit(LoggedOut(401, "gone"))
    await asyncio.wait_for(done.wait(), 1)
    assert seen == [("sync", qr(0)), ("async", LoggedOut(401, "gone"))]
    remove()
    bus.emit(qr(1))
    assert len(seen) == 2


async def test_failing_callback_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()

    def boom(e: QrCode) -> None:
        raise RuntimeError("app bug")

    bus.on(QrCode, boom)
    later: list[QrCode] = []
    bus.on(QrCode, later.append)
    with caplog.at_level(logging.ERROR):
        bus.emit(qr(0))
    assert later == [qr(0)]
    assert "app bug" in caplog.text


async def test_wait_for_predicate_and_timeout() -> None:
    bus = EventBus()

    async def produce() -> None:  # runs only once wait_for below is subscribed and waiting
        bus.emit(ConnectionUpdate("connecting"))
        bus.emit(qr(0))
        bus.emit(ConnectionUpdate("open"))

    task = asyncio.create_task(produce())
    got = await bus.wait_for(ConnectionUpdate, lambda e: e.state == "open", timeout=1)
    assert got.state == "open"
    await task
    with pytest.raises(TimeoutError):
        await bus.wait_for(QrCode, timeout=0.01)


async def test_wait_for_ends_with_client_stopped() -> None:
    bus = EventBus()
    stream = bus.stream()
    waiter = asyncio.create_task(bus.wait_for(QrCode, timeout=5, stream=stream))
    bus.stop("logged out")
    with pytest.raises(ClientStopped):
        await waiter
