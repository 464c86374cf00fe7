"""Coalescing of concurrent look-ups: one network request per key, however many callers ask.

A burst of sends to a new contact must not turn into a burst of usync queries or pre-key bundle
fetches: every bundle fetch consumes one of the peer's one-time pre-keys and replaces the
session the previous fetch built. ``InFlight.get_many`` lets the first caller fetch the keys
nobody is fetching yet, and every later caller wait for those same answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class InFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._pending: dict[K, asyncio.Future[V | None]] = {}

    async def get_many(
        self,
        keys: Sequence[K],
        fetch: Callable[[list[K]], Awaitable[dict[K, V]]],
    ) -> dict[K, V | None]:
        """``{key: value or None}``: fetches the keys not already being fetched (one call to
        ``fetch`` with all of them) and waits for the others. ``fetch``'s exception reaches
        every caller waiting on its keys."""
        loop = asyncio.get_running_loop()
        unique = list(dict.fromkeys(keys))
        mine = [k for k in unique if k not in self._pending]
        for k in mine:
            self._pending[k] = loop.create_future()
        waiting = {k: self._pending[k] for k in unique if k not in mine}
        out: dict[K, V | None] = {}
        if mine:
            try:
                result = await fetch(mine)
            except BaseException as exc:
                for k in mine:
                    fut = self._pending.pop(k)
                    if not fut.done():
                        fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError(exc))
                        fut.exception()  # retrieved: there may be no other waiter
                raise
            for k in mine:
                fut = self._pending.pop(k)
                value = result.get(k)
                if not fut.done():
                    fut.set_result(value)
                out[k] = value
        for k, fut in waiting.items():
            out[k] = await asyncio.shield(fut)
        return out
