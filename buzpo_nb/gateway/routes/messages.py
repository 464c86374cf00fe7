"""Sending: ``POST /api/v1/messages`` (API key) and the dashboard's compose endpoint
``POST /api/sessions/{id}/send?internal=1`` (admin credential, never nothing)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request

from buzpo_nb.client.media_prep import sniff_mimetype
from buzpo_nb.gateway.admin_auth import require_admin, require_api_key
from buzpo_nb.gateway.errors import Unprocessable
from buzpo_nb.gateway.live_events import live_events
from buzpo_nb.gateway.rate_limit import rate_limited_api_key
from buzpo_nb.gateway.schemas import (
    DashboardSend,
    InternalSend,
    MessageAccepted,
    MessageError,
    MessageOut,
    MessageSend,
    iso,
)
from buzpo_nb.gateway.send_pipeline import UPLOAD_SCHEME, SendRequest
from buzpo_nb.gateway.services import SendPipelineDep
from buzpo_nb.gateway.store import ApiKeyRecord, Message

router = APIRouter(prefix="/api/v1/messages", tags=["messages"])
internal_router = APIRouter(
    prefix="/api/sessions", tags=["sessions"], dependencies=[Depends(require_admin)]
)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retries with the same key never send twice",
    ),
]


@router.post("", status_code=202, response_model=MessageAccepted)
async def send_message(
    body: MessageSend,
    key: Annotated[ApiKeyRecord, Depends(rate_limited_api_key)],
    pipeline: SendPipelineDep,
    idempotency_key: IdempotencyKey = None,
) -> MessageAccepted:
    """Queue a message (text with Markdown, or media by URL); it is sent in order, and its
    status moves ``queued → sent → delivered → read`` or ``failed``."""
    message, _ = await pipeline.submit(
        _request(body),
        session_id=body.session_id,
        scope=key.id,
        api_key_id=key.id,
        key_session=key.session_id,
        idempotency_key=idempotency_key,
    )
    return MessageAccepted(id=message.id, status=message.status)


@router.get("/{message_id}", response_model=MessageOut)
async def get_message(
    message_id: str,
    key: Annotated[ApiKeyRecord, Depends(require_api_key)],
    pipeline: SendPipelineDep,
) -> MessageOut:
    """One sent message and where it stands."""
    return message_out(await pipeline.get(message_id, key_session=key.session_id))


@internal_router.post("/{session_id}/send", status_code=202, response_model=MessageAccepted)
async def send_internal(
    session_id: str,
    body: DashboardSend,
    pipeline: SendPipelineDep,
    request: Request,
    internal: Annotated[bool, Query(description="The dashboard's compose endpoint")] = True,
    idempotency_key: IdempotencyKey = None,
) -> MessageAccepted:
    """Send from a session as its owner (admin credential instead of an API key); the
    dashboard may upload the file itself (``mediaData``, base64) instead of a ``mediaUrl``."""
    send = _request(body)
    data = _media_data(body.media_data) if body.media_data else None
    if data is not None:
        send = dataclasses.replace(
            send,
            media_url=UPLOAD_SCHEME + hashlib.sha256(data).hexdigest(),
            media_data=data,
            media_type=body.media_type or _kind_of(data),
            file_name=body.file_name,
        )
    message, created = await pipeline.submit(
        send, session_id=session_id, scope="admin", idempotency_key=idempotency_key
    )
    if data is not None and created and send.media_type in ("image", "sticker"):
        await live_events(request.app).thumbnails.put_image(message.id, data)
    return MessageAccepted(id=message.id, status=message.status)


def _media_data(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Unprocessable(
            "mediaData must be the file in standard base64", field="mediaData", code="invalid"
        ) from None


def _kind_of(data: bytes) -> str:
    family = (sniff_mimetype(data[:64]) or "").split("/", 1)[0]
    return family if family in ("image", "video", "audio") else "document"


def _request(body: InternalSend) -> SendRequest:
    return SendRequest(
        to=body.to,
        text=body.text,
        media_url=body.media_url,
        media_type=body.media_type,
        caption=body.caption,
        reply_to_id=body.reply_to_id,
    )


def message_out(message: Message) -> MessageOut:
    error = None
    if message.status == "failed":
        error = MessageError(code="send_failed", message=message.failure_reason or "failed")
    return MessageOut(
        id=message.id,
        session_id=message.session_id,
        to=message.chat,
        status=message.status,
        error=error,
        wa_id=message.wa_id,
        reply_to_id=message.quoted_id,
        created_at=iso(message.created_at),
        updated_at=iso(message.updated_at),
        sent_at=iso(message.sent_at),
        delivered_at=iso(message.delivered_at),
        read_at=iso(message.read_at),
    )
