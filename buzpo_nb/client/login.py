"""What happens between the server's ``<success/>`` and ``connection: open``.

After a login handshake the server answers ``<success t lid .../>``. Before the device counts
as online the client runs, in order (Baileys ``CB:success``, protocol-map §4.1):

1. store the ``lid`` the server reports for us (only when present: Baileys overwrites ``me.lid``
   with ``undefined`` when it is missing, which loses the LID learned at pairing);
2. pre-key count, and upload if low (``prekeys.upload_pre_keys_if_required``);
3. ``<iq xmlns="passive" type="set"><active/></iq>`` - tells the server to start delivering;
4. ``<iq xmlns="encrypt" type="get"><digest/></iq>`` - the server checks our key bundle; an
   answer without ``<digest>`` means it has none it trusts, so 5 fresh pre-keys are uploaded;
5. our own PN<->LID mapping is written to the folder (``lid-mapping-*.json``, as Baileys does
   on open), so our sessions are named the same way by both stacks.

Each step's failure is logged and the sequence goes on (as Baileys does): being online with a
thin pre-key stock beats not being online. Only a lost connection stops it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from buzpo_nb.client import prekeys
from buzpo_nb.client.connection import Connection
from buzpo_nb.client.errors import ClientError, ConnectionClosed
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.prekeys import MIN_PREKEY_COUNT, digest_request
from buzpo_nb.wa.stanzas import SERVER_ADDRESS, iq

if TYPE_CHECKING:
    from buzpo_nb.client.client import Client

log = logging.getLogger(__name__)


def passive_request(id_: str, state: str = "active") -> Node:
    """``<iq xmlns=passive type=set><active/></iq>`` (or ``<passive/>`` to pause delivery)."""
    return iq("set", id_, xmlns="passive", to=SERVER_ADDRESS, content=[Node(state)])


async def on_success(client: Client, conn: Connection, node: Node) -> None:
    """Run the post-login sequence, then declare the connection open."""
    lid = node.attrs.get("lid")
    me = client.creds.me
    if me is not None and lid and me.lid != lid:
        me.lid = lid
        await client._update_creds(me=me)

    await prekeys.upload_pre_keys_if_required(client, conn)
    timeout = client.settings.query_timeout
    try:
        await conn.query(passive_request(conn.tags.next()), timeout)
    except ConnectionClosed:
        raise
    except ClientError as exc:
        log.warning("passive/active iq failed: %s", exc)
    try:
        answer = await conn.query(digest_request(conn.tags.next()), timeout)
        if answer.child("digest") is None:
            log.warning("server has no digest of our key bundle; uploading fresh pre-keys")
            await prekeys.upload_pre_keys(client, conn, MIN_PREKEY_COUNT)
    except ConnectionClosed:
        raise
    except ClientError as exc:
        log.warning("key bundle digest failed: %s", exc)
    await client._messaging.logged_in()
    client._opened(conn)
