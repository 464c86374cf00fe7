"""The runtime: plain calls work where a loop is already running (a Jupyter cell), awaitable
variants do not block that loop, and shutdown stops what was registered."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

import buzpo_nb as bz
from buzpo_nb.notebook.runtime import Runtime


async def test_blocking_call_inside_a_running_loop_like_a_kernel_cell() -> None:
    # asyncio.run() would fail here ("cannot be called from a running event loop"); the toolkit
    # runs the sandbox on its own thread, so the plain call just works.
    handle = bz.sandbox(phones=("15559990001",))
    try:
        assert [p.number for p in handle.phones()] == ["15559990001"]
        assert handle.runtime.thread is not threading.current_thread()
    finally:
        handle.stop()


async def test_awaitable_variant_keeps_the_callers_loop_free() -> None:
    runtime = bz.get_runtime()
    gate = asyncio.Event()  # set by the caller's loop while the runtime waits
    release = threading.Event()

    async def on_runtime() -> str:
        await asyncio.to_thread(release.wait, 10)
        return "done"

    async def callers_loop_work() -> None:
        gate.set()
        release.set()

    result, _ = await asyncio.gather(runtime.arun(on_runtime()), callers_loop_work())
    assert result == "done" and gate.is_set()


def test_blocking_call_on_the_runtime_thread_is_refused() -> None:
    runtime = bz.get_runtime()

    async def nested() -> None:
        async def inner() -> None:
            return None

        runtime.run(inner())

    with pytest.raises(RuntimeError, match="await it instead"):
        runtime.run(nested())


def test_timeout_cancels_the_work() -> None:
    runtime = bz.get_runtime()
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    with pytest.raises(TimeoutError):
        runtime.run(forever(), timeout=0.2)
    assert cancelled.wait(5)


def test_shutdown_runs_closers_newest_first_and_stops_the_thread() -> None:
    runtime = Runtime()
    order: list[str] = []

    async def first() -> None:
        order.append("first")

    async def second() -> None:
        order.append("second")

    runtime.on_shutdown(first)
    remove = runtime.on_shutdown(lambda: asyncio.sleep(0))
    runtime.on_shutdown(second)
    remove()
    runtime.shutdown()
    assert order == ["second", "first"]
    assert not runtime.thread.is_alive()
    with pytest.raises(RuntimeError, match="shut down"):
        runtime.run(first())


def test_shutdown_frees_the_ports_of_everything_started() -> None:
    handle = bz.sandbox(phones=())
    server = bz.start_server(0, sandbox=handle)
    ports = [handle.server.port, server.port]
    bz.shutdown()  # what atexit does when the kernel shuts down or restarts
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # would raise EADDRINUSE if still held
    assert handle.stopped and server.stopped
    assert bz.get_runtime().running  # a new runtime on next use


def test_top_level_names_are_exactly_the_toolkit() -> None:
    """``buzpo_nb`` lists the toolkit's names itself (so importing it stays free of pandas);
    the two lists must not drift apart."""
    import buzpo_nb
    import buzpo_nb.notebook

    assert sorted(buzpo_nb.__all__) == sorted(buzpo_nb.notebook.__all__)
    for name in buzpo_nb.__all__:
        assert getattr(buzpo_nb, name) is getattr(buzpo_nb.notebook, name) or name == "sandbox"
