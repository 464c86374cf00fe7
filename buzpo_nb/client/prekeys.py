"""Keeping our one-time pre-keys stocked on the server.

Peers need one of our one-time pre-keys to start a Signal session while we are offline, so
after every login the client asks the server how many it still holds and tops the stock up
(812 the first time, 5 more when it is down to 5 - Baileys' numbers, see ``wa/prekeys.py``).
The server also says so unprompted (``<notification type="encrypt"><count value/>``).

Ordering matters for safety: new keys are written to the store and ``nextPreKeyId`` saved
*before* the upload, so a crash between the two can never hand out a key we do not hold the
private half of; ``firstUnuploadedPreKeyId`` only moves once the server confirmed the upload, so
an upload lost with its connection is re-sent with the same ids and keys. (Baileys advances both
before uploading, so a lost upload leaves its keys stranded on disk forever.) Only one upload
runs at a time per client.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from buzpo_nb.client.connection import Connection
from buzpo_nb.client.errors import ClientError
from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.prekeys import (
    MIN_PREKEY_COUNT,
    PRE_KEY_CATEGORY,
    build_upload,
    count_request,
    generate_pre_keys,
    parse_count,
    plan_pre_keys,
    pre_key_from_record,
    pre_key_record,
    upload_count_needed,
)

if TYPE_CHECKING:
    from buzpo_nb.client.client import Client

log = logging.getLogger(__name__)


async def server_pre_key_count(client: Client, conn: Connection) -> int:
    """How many of our one-time pre-keys the server still has."""
    answer = await conn.query(count_request(conn.tags.next()), client.settings.query_timeout)
    return parse_count(answer)


async def upload_pre_keys(client: Client, conn: Connection, count: int = MIN_PREKEY_COUNT) -> None:
    """Generate what is missing, persist it, then upload ``count`` keys to the server."""
    async with client._pre_key_lock:
        creds = client.creds
        plan = plan_pre_keys(creds.next_pre_key_id, creds.first_unuploaded_pre_key_id, count)
        fresh = generate_pre_keys(plan.generate_ids)
        if fresh:
            await client.store.set(
                {PRE_KEY_CATEGORY: {str(i): pre_key_record(kp) for i, kp in fresh.items()}}
            )
        # Keys from an earlier, interrupted upload are re-read rather than regenerated.
        stored_ids = [str(i) for i in plan.upload_ids if i not in fresh]
        stored = await client.store.get(PRE_KEY_CATEGORY, stored_ids) if stored_ids else {}
        keys = dict(fresh)
        for key_id, record in stored.items():
            if record is None:
                log.warning("pre-key %s vanished from the store; not uploading it", key_id)
                continue
            keys[int(key_id)] = pre_key_from_record(record)
        # Generated keys are on disk: never hand out their ids again, even if we crash now.
        if plan.next_pre_key_id != creds.next_pre_key_id:
            await client._update_creds(next_pre_key_id=plan.next_pre_key_id)
        spk = creds.signed_pre_key
        upload = build_upload(
            registration_id=creds.registration_id,
            identity_public=creds.signed_identity_key.public,
            pre_keys=keys,
            signed_pre_key_id=spk.key_id,
            signed_pre_key_public=spk.key_pair.public,
            signed_pre_key_signature=spk.signature,
        )
        await conn.query(upload.to_node(conn.tags.next()), client.settings.pre_key_upload_timeout)
        # Only a confirmed upload moves the mark; otherwise the same keys go up next time.
        await client._update_creds(first_unuploaded_pre_key_id=plan.first_unuploaded_pre_key_id)
        log.info("uploaded %d pre-keys (ids %s..%s)", len(keys), min(keys), max(keys))


async def upload_pre_keys_if_required(client: Client, conn: Connection) -> None:
    """The login check: ask the count, upload if low or if our newest key went missing.

    Failures are logged, not raised: a failed top-up must not keep the device offline (the
    server will remind us with an ``encrypt`` notification, and the next login retries).
    """
    try:
        server_count = await server_pre_key_count(client, conn)
        current_id = client.creds.next_pre_key_id - 1
        exists = False
        if current_id > 0:
            found = await client.store.get(PRE_KEY_CATEGORY, [str(current_id)])
            exists = found.get(str(current_id)) is not None
        needed = upload_count_needed(server_count, exists, current_id)
        log.info("server holds %d pre-keys; uploading %d", server_count, needed)
        if needed:
            await upload_pre_keys(client, conn, needed)
    except (ClientError, DecodeError) as exc:
        log.warning("pre-key check/upload failed: %s", exc)


async def refill_after_notification(client: Client, conn: Connection, count: int) -> None:
    """The server reported ``count`` keys left; refill when at or below the minimum."""
    if count > MIN_PREKEY_COUNT:
        return
    try:
        await upload_pre_keys(client, conn, MIN_PREKEY_COUNT)
    except (ClientError, DecodeError) as exc:
        log.warning("pre-key refill failed: %s", exc)
