"""Child process for the kill -9 tests: writes to a GatewayStore and says what it acknowledged.

``python store_child.py HOME SESSION_ID`` records received messages as fast as it can, one
transaction each, and prints ``ack <message id> <event id>`` only after the transaction
committed, exactly as the gateway acknowledges only after the store returned. The parent kills
it with SIGKILL at an arbitrary moment and checks that every acknowledged write survived.
"""

from __future__ import annotations

import asyncio
import itertools
import sys

from buzpo_nb.gateway.store import GatewayStore, MessageDraft


async def main(home: str, session_id: str) -> None:
    store = GatewayStore(home)
    for n in itertools.count():
        message, _ = await store.record_received_message(
            MessageDraft(
                session_id=session_id,
                direction="in",
                chat="15550001111@s.whatsapp.net",
                sender="15550001111@s.whatsapp.net",
                wa_id=f"WA{n:08d}",
                text=f"message {n}",
            )
        )
        delivery = await store.deliveries(session_id, limit=1)
        print(f"ack {message.id} {delivery[0].event_id}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
