"""Child process for the kill -9 test: runs a WebhookOutbox on HOME until it is killed.

``python outbox_child.py HOME`` delivers the home's pending webhook events (loopback receivers
allowed, short retry delays) and never exits by itself.
"""

from __future__ import annotations

import asyncio
import sys

from buzpo_nb.gateway.config import WebhookSettings
from buzpo_nb.gateway.store import GatewayStore
from buzpo_nb.gateway.url_guard import UrlPolicy
from buzpo_nb.gateway.webhooks import WebhookOutbox


async def main(home: str) -> None:
    store = GatewayStore(home)
    settings = WebhookSettings(retry_delays=(0.05,) * 100, jitter=0.0, timeout=60.0)
    async with WebhookOutbox(store, settings, UrlPolicy(allow_private=True)):
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
