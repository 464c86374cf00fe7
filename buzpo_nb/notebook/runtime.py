"""The toolkit's own event loop, on a background thread, and the bridge to it from any thread.

A Jupyter kernel already runs an asyncio loop in its main thread, so ``asyncio.run`` fails in a
cell and blocking on a coroutine there would deadlock. Instead of patching asyncio
(``nest-asyncio``), every Buzpo object used from a notebook (sandbox, clients, gateway) lives on
one loop that this module runs in a daemon thread. Plain calls submit a coroutine to it and block
the caller's thread for the result (the kernel's loop is not needed meanwhile, so nothing can
deadlock); ``await`` variants wrap the same future for the caller's loop, so top-level ``await``
in a cell does not block the kernel. Everything registered with ``on_shutdown`` is stopped, in
reverse order, by ``shutdown()`` or at interpreter exit (kernel shutdown or restart), which is
what frees the ports the servers hold.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger("buzpo.notebook")

SHUTDOWN_TIMEOUT = 15.0  # seconds for every registered closer together


class Runtime:
    """An asyncio loop running forever in a daemon thread named ``buzpo-runtime``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._lock = threading.Lock()
        self._started = threading.Event()
        self.thread = threading.Thread(target=self._main, name="buzpo-runtime", daemon=True)
        self.thread.start()
        self._started.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()

    @property
    def running(self) -> bool:
        return self.thread.is_alive() and not self.loop.is_closed()

    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self.thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the runtime loop; a thread-safe future for its result."""
        if not self.running:
            coro.close()
            raise RuntimeError("the Buzpo runtime is shut down")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the runtime loop and block this thread until it is done.

        Called from the runtime thread itself it would deadlock, so that is an error (code on
        the loop awaits instead). ``timeout`` cancels the coroutine and raises ``TimeoutError``.
        """
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("blocking call made on the Buzpo runtime loop: await it instead")
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no result within {timeout} s") from None
        except KeyboardInterrupt:  # interrupting the cell stops the work it started
            future.cancel()
            raise

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """``await`` ``coro`` from another loop (a cell's top-level ``await``) without blocking
        that loop; cancelling the await cancels the work on the runtime loop."""
        if self.in_loop_thread():
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a synchronous function on the runtime loop (objects owned by the loop, such as
        the sandbox's world, are only touched there) and return its result."""
        if self.in_loop_thread():
            return fn(*args, **kwargs)

        async def call() -> T:
            return fn(*args, **kwargs)

        return self.run(call())

    def on_shutdown(self, closer: Callable[[], Awaitable[None]]) -> Callable[[], None]:
        """Run ``closer()`` on the loop at shutdown; returns a function that unregisters it."""
        with self._lock:
            self._closers.append(closer)

        def remove() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._closers.remove(closer)

        return remove

    def shutdown(self, timeout: float = SHUTDOWN_TIMEOUT) -> None:
        """Stop everything registered (newest first), then the loop and its thread."""
        if not self.running:
            return
        with self._lock:
            closers, self._closers = list(reversed(self._closers)), []

        async def close_all() -> None:
            for closer in closers:
                try:
                    await closer()
                except Exception:
                    log.exception("error while shutting down %r", closer)

        if not self.in_loop_thread():
            with contextlib.suppress(Exception):
                self.run(close_all(), timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
        if not self.thread.is_alive():
            self.loop.close()


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The process's runtime, started on first use (a new one after ``shutdown()``)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None or not _runtime.running:
            _runtime = Runtime()
        return _runtime


def shutdown() -> None:
    """Stop every sandbox, session and server the toolkit started, and its loop thread."""
    global _runtime
    with _runtime_lock:
        runtime, _runtime = _runtime, None
    if runtime is not None:
        runtime.shutdown()


atexit.register(shutdown)
