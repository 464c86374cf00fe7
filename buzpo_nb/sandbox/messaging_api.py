"""The control API for chatting as a virtual phone: send, read, list messages; groups.

Thin routes over the ``Sandbox`` service, like ``control_api.py`` (errors are the same JSON
``{"error", "field"}``). ``GET .../messages`` can wait for news (``since`` + ``wait``), so a test
or a bot script can follow a conversation without polling loops.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from buzpo_nb.sandbox.errors import InvalidRequest, MediaTooLarge
from buzpo_nb.sandbox.groups import Group
from buzpo_nb.sandbox.mailbox import ChatMessage
from buzpo_nb.sandbox.service import MAX_WAIT, Sandbox
from buzpo_nb.sandbox.world import World

router = APIRouter(prefix="/sandbox", tags=["messaging"])
MAX_BURST = 10_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# -- models -------------------------------------------------------------------------------------
class SendIn(_Strict):
    """A text (``text``) or a media message (``media`` base64 or ``path``, plus ``mediaType``)."""

    to: str = Field(description="'+15557654321', '15557654321', a user jid or a group jid")
    text: str | None = Field(default=None, description="The message text")
    reply_to_id: str | None = Field(
        default=None, alias="replyToId", description="Id of a message of this phone to quote"
    )
    media: str | None = Field(default=None, description="Media bytes, base64 (or give 'path')")
    path: str | None = Field(default=None, description="A file on the sandbox's machine")
    media_type: str | None = Field(
        default=None,
        alias="mediaType",
        description="image, video, audio, ptt (voice note), document or sticker",
    )
    caption: str | None = Field(default=None, description="image, video and document only")
    file_name: str | None = Field(default=None, alias="fileName", description="For documents")
    mimetype: str | None = Field(default=None, description="Default: WhatsApp's per kind")


class BurstIn(_Strict):
    to: str = Field(description="Like 'to' of a single send")
    text: str = Field(min_length=1, description="Message n (from 1) reads '<text> <n>'")
    count: int = Field(ge=1, le=MAX_BURST, description="How many messages")


class BurstOut(BaseModel):
    ids: list[str] = Field(description="The messages' ids, in sending order")


class MessageOut(BaseModel):
    """One message on the phone's screen; ``status`` only for messages it (or a companion of
    its account) sent: pending, sent, delivered, read or error."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    chat: str = Field(description="Chat jid: the other account's jid or the group jid")
    from_: str = Field(alias="from", description="The author's phone-number jid")
    from_device: int = Field(description="Which device of the author wrote it (0 = the phone)")
    from_me: bool
    text: str | None
    quoted_id: str | None
    timestamp: int
    status: str | None
    delivered_to: list[str]
    read_by: list[str]
    read: bool = Field(description="Incoming: this phone sent a read receipt")
    error: str | None
    seq: int = Field(description="Change counter: pass the largest one as 'since' to get news")
    media_type: str | None = Field(
        default=None, alias="mediaType", description="image, video, audio, ptt, document, sticker"
    )
    mimetype: str | None = None
    caption: str | None = None
    file_name: str | None = Field(default=None, alias="fileName")
    file_length: int | None = Field(default=None, alias="fileLength")
    media_url: str | None = Field(
        default=None, alias="mediaUrl", description="GET it for the decrypted media bytes"
    )

    @classmethod
    def of(cls, m: ChatMessage, number: str | None = None) -> MessageOut:
        media = m.media
        extra: dict[str, Any] = {}
        if media is not None:
            extra = {
                "media_type": media.media_type,
                "mimetype": media.mimetype,
                "caption": media.caption,
                "file_name": media.file_name,
                "file_length": media.file_length,
                "media_url": f"/sandbox/phones/{number}/messages/{m.id}/media" if number else None,
            }
        return cls(
            **extra,
            id=m.id,
            chat=m.chat,
            from_=m.sender,
            from_device=m.sender_device,
            from_me=m.from_me,
            text=m.text,
            quoted_id=m.quoted_id,
            timestamp=m.timestamp,
            status=m.status.label if m.status is not None else None,
            delivered_to=m.delivered_to,
            read_by=m.read_by,
            read=m.read,
            error=m.error,
            seq=m.seq,
        )


class ReadIn(_Strict):
    ids: list[str] = Field(min_length=1, description="Ids of received messages")


class ReadOut(BaseModel):
    read: list[str]


class GroupIn(_Strict):
    subject: str
    participants: list[str] = Field(description="Phone numbers ('+1555…' or digits)")
    creator: str | None = Field(default=None, description="Default: the first participant")


class GroupOut(BaseModel):
    jid: str
    subject: str
    creator: str
    created_at: int
    participants: list[str]
    participant_jids: list[str] = Field(description="The members' LID jids, as clients see them")

    @classmethod
    def of(cls, group: Group, world: World) -> GroupOut:
        return cls(
            jid=group.jid,
            subject=group.subject,
            creator=group.creator,
            created_at=group.created_at,
            participants=group.participants,
            participant_jids=[
                world.phones[n].lid_jid() for n in group.participants if n in world.phones
            ],
        )


def _sandbox(request: Request) -> Sandbox:
    return request.app.state.sandbox  # type: ignore[no-any-return]


# -- routes -------------------------------------------------------------------------------------
@router.post(
    "/phones/{number}/messages",
    status_code=201,
    response_model=MessageOut,
    response_model_by_alias=True,
)
async def send_message(number: str, body: SendIn, request: Request) -> MessageOut:
    """The phone writes a message (end-to-end encrypted for every device of the recipients).

    Media: give ``media`` (base64) or ``path`` and ``mediaType``; the phone encrypts it, files
    it on the sandbox's media host and sends the matching message kind."""
    sb = _sandbox(request)
    if body.media is None and body.path is None and body.media_type is None:
        if body.text is None:
            raise InvalidRequest("give 'text', or 'media'/'path' with 'mediaType'", field="text")
        sent = sb.send_message(number, body.to, body.text, reply_to=body.reply_to_id)
        return MessageOut.of(sent, number)
    if body.text is not None:
        raise InvalidRequest("a media message has a 'caption', not 'text'", field="text")
    if body.media_type is None:
        raise InvalidRequest("a media message needs 'mediaType'", field="mediaType")
    data = _media_bytes(body, sb.media.max_bytes)
    sent = sb.send_media(
        number,
        body.to,
        data,
        body.media_type,
        caption=body.caption,
        file_name=body.file_name,
        mimetype=body.mimetype,
    )
    return MessageOut.of(sent, number)


@router.post("/phones/{number}/messages/burst", status_code=201, response_model=BurstOut)
async def send_burst(number: str, body: BurstIn, request: Request) -> BurstOut:
    """The phone writes ``count`` texts to ``to`` as fast as the sandbox can (receive-load
    tests and benchmarks): one request, deliveries start while the rest are being encrypted."""
    sent = await _sandbox(request).send_burst(number, body.to, body.text, body.count)
    return BurstOut(ids=[m.id for m in sent])


def _media_bytes(body: SendIn, limit: int) -> bytes:
    """The media bytes from base64 ``media`` or a file ``path`` (exactly one), size-checked
    before anything is read whole."""
    if (body.media is None) == (body.path is None):
        raise InvalidRequest("give exactly one of 'media' (base64) or 'path'", field="media")
    if body.path is not None:
        file = Path(body.path)
        try:
            size = file.stat().st_size
            if size > limit:
                raise MediaTooLarge(f"file of {size} bytes exceeds {limit}", field="path")
            return file.read_bytes()
        except OSError as exc:
            raise InvalidRequest(
                f"cannot read {body.path!r}: {exc.strerror}", field="path"
            ) from None
    assert body.media is not None
    if len(body.media) > (limit + 2) // 3 * 4 + 4:
        raise MediaTooLarge(f"media exceeds the limit of {limit} bytes", field="media")
    try:
        return base64.b64decode(body.media, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("'media' is not valid base64", field="media") from None


@router.get("/phones/{number}/messages/{message_id}/media")
async def download_media(number: str, message_id: str, request: Request) -> Response:
    """The decrypted bytes of a media message (downloaded from the media host and verified:
    a blob that fails the MAC or a hash answers 502)."""
    message, data = _sandbox(request).download_media(number, message_id)
    assert message.media is not None
    headers = {"X-Media-Type": message.media.media_type}
    if message.media.file_name:
        headers["Content-Disposition"] = (
            f"attachment; filename*=UTF-8''{quote(message.media.file_name)}"
        )
    return Response(data, media_type=message.media.mimetype or None, headers=headers)


@router.get(
    "/phones/{number}/messages", response_model=list[MessageOut], response_model_by_alias=True
)
async def list_messages(
    number: str,
    request: Request,
    since: int = Query(0, ge=0, description="Only messages added or changed after this seq"),
    wait: float = Query(
        0, ge=0, le=MAX_WAIT, description="Seconds to wait for news if there is none yet"
    ),
) -> list[MessageOut]:
    """What the phone received (decrypted) and sent, with delivery/read status."""
    found = await _sandbox(request).wait_messages(number, since=since, timeout=wait)
    return [MessageOut.of(m, number) for m in found]


@router.post("/phones/{number}/read", response_model=ReadOut)
async def read(number: str, body: ReadIn, request: Request) -> ReadOut:
    """The phone reads received messages: their senders get read receipts."""
    return ReadOut(read=[m.id for m in _sandbox(request).read(number, body.ids)])


@router.post("/groups", status_code=201, response_model=GroupOut)
async def create_group(body: GroupIn, request: Request) -> GroupOut:
    sb = _sandbox(request)
    group = sb.create_group(body.subject, body.participants, creator=body.creator)
    return GroupOut.of(group, sb.world)


@router.get("/groups", response_model=list[GroupOut])
async def list_groups(request: Request) -> list[GroupOut]:
    sb = _sandbox(request)
    return [GroupOut.of(g, sb.world) for g in sb.groups()]


@router.get("/groups/{jid}", response_model=GroupOut)
async def get_group(jid: str, request: Request) -> GroupOut:
    sb = _sandbox(request)
    return GroupOut.of(sb.group(jid), sb.world)
