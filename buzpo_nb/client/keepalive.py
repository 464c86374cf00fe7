"""Keep-alive: prove the link is alive, and notice quickly when it is not.

A TCP connection through NATs and mobile networks can die without either side hearing a FIN, so
the only reliable signal is silence. Like WhatsApp Web (Baileys ``startKeepAliveRequest``) the
client sends ``<iq xmlns="w:p" type="get"><ping/></iq>`` every ``interval`` seconds; the server's
answer (or any other frame) refreshes ``Connection.last_received``. If nothing at all arrives for
``dead_after`` seconds the connection is declared lost (408) and the client reconnects.

Unlike Baileys, which only looks every ``interval`` (so a dead link can go unnoticed for nearly
two intervals), this wakes at whichever comes first: the next ping or the silence deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from buzpo_nb.client.connection import Connection
from buzpo_nb.client.errors import ClientError
from buzpo_nb.client.reconnect import DisconnectReason
from buzpo_nb.wa.stanzas import ping

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 30.0  # Baileys keepAliveIntervalMs
DEFAULT_GRACE = 5.0  # Baileys ends the socket after interval + 5 s of silence


async def keepalive(
    conn: Connection,
    *,
    interval: float = DEFAULT_INTERVAL,
    dead_after: float | None = None,
    clock: Callable[[], float] | None = None,
) -> None:
    """Run for the life of ``conn``: ping every ``interval``, end it after ``dead_after`` silence.

    ``clock`` must be the one ``conn`` stamps ``last_received`` with (its own by default).
    """
    clock = clock or conn.clock
    if dead_after is None:
        dead_after = interval + DEFAULT_GRACE
    next_ping = clock() + interval
    while not conn.closed:
        now = clock()
        silent_since = conn.last_received
        if now - silent_since >= dead_after:
            conn.end(
                DisconnectReason.CONNECTION_LOST,
                f"nothing received from the server for {now - silent_since:.1f}s",
                graceful=False,
            )
            return
        if now >= next_ping:
            next_ping = now + interval
            conn.spawn(_ping(conn, timeout=dead_after), name="keepalive-ping")
        wake_at = min(next_ping, silent_since + dead_after)
        await asyncio.sleep(max(0.0, wake_at - clock()))


async def _ping(conn: Connection, *, timeout: float) -> None:
    # The answer itself does not matter (any inbound frame counts as life); a lost or refused
    # ping is left to the silence check above rather than treated as a failure here.
    with contextlib.suppress(ClientError):
        await conn.query(ping(conn.tags.next()), timeout=timeout)
