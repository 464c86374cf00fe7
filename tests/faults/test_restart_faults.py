"""A message that reaches the gateway's client just as the socket closes (here: the sandbox
restarts) is stored once, not lost. The chaos test (seed 810864276, step 1) lost a phone's
message this way: the client's inbox task was cancelled with the socket after decrypting (the
Signal session moved on durably) but before the content was kept or stored, and the server's
redelivery was then a replay that could not be decrypted again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from chaos_support import FAST, eventually, rig

from buzpo_nb.client import ClientSettings


async def test_a_message_routed_just_before_a_sandbox_restart_arrives_after_it(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, ClientSettings(**FAST)) as r:
        store = r.gateway.services.store

        async def stored() -> list[str | None]:
            return [m.text for m in await store.list_messages(direction="in")]

        r.sandbox.sandbox.send_message(r.friend, r.account, "warm up")  # sessions exist now
        await eventually(stored, 15, "the first message stored")
        # Delivered to the client while the server shuts down under it.
        r.sandbox.sandbox.send_message(r.friend, r.account, "just before the restart")
        await r.sandbox.restart()
        texts = await eventually(
            lambda: _if_len(stored, 2), 30, "the message sent just before the restart"
        )
        assert sorted(texts) == ["just before the restart", "warm up"]


async def _if_len(
    read: Callable[[], Awaitable[list[str | None]]], n: int
) -> list[str | None] | None:
    got = await read()
    return got if len(got) >= n else None
