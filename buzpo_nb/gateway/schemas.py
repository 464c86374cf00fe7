"""The request and response bodies of the REST API, as Pydantic models.

Every route declares its models here so the OpenAPI document at ``/docs`` is exact, and so a
wrong type or a missing field is refused before any service sees it (422 naming the field).
Field names on the wire are camelCase (``webhookUrl``, ``replyToId``) as the documentation
writes them; Python code uses snake_case. Requests forbid unknown fields: a typo such as
``"webhookURL"`` must fail loudly, not silently drop the webhook. Strict types: ``"to": 1555``
is refused rather than guessed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

SessionStatus = Literal["connecting", "qr", "open", "disconnected", "logged_out", "qr_timeout"]
DmPolicyName = Literal["pairing", "allowlist", "open", "disabled"]
MessageStatusName = Literal["queued", "sent", "delivered", "read", "failed"]
MediaType = Literal["image", "video", "audio", "document", "sticker"]

# E.164 without formatting: optional "+", 6-15 digits, no leading zero (ITU-T E.164).
_PHONE = re.compile(r"^\+?[1-9][0-9]{5,14}$")
MAX_TEXT = 65_536  # WhatsApp's own ceiling for a text message


def normalize_phone(value: str) -> str:
    """``+1 (555) 123-4567`` -> ``15551234567``; raises ``ValueError`` when it is not E.164."""
    digits = re.sub(r"[\s().-]", "", value)
    if not _PHONE.match(digits):
        raise ValueError("must be a phone number in international format, e.g. +15551234567")
    return digits.lstrip("+")


def iso(ts: float | None) -> str | None:
    """Unix seconds -> ``2025-01-31T12:00:00.000Z`` (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


PhoneNumber = Annotated[str, AfterValidator(normalize_phone)]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class _Request(_Model):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True
    )


# -- sessions -------------------------------------------------------------------------------------
class SessionCreate(_Request):
    name: str = Field(min_length=1, max_length=100, description="A label for this number")
    webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Where events are POSTed (http/https; signed, Standard Webhooks)",
    )
    dm_policy: DmPolicyName = Field(
        default="pairing", description="Who may message this number directly (see README)"
    )
    allow_from: list[PhoneNumber] = Field(
        default_factory=list,
        max_length=1000,
        description="Numbers always allowed (E.164); the only ones under 'allowlist'",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("allow_from")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class LastError(_Model):
    code: str
    message: str
    at: str | None = None


class SessionOut(_Model):
    id: str
    name: str
    status: SessionStatus
    phone: str | None = Field(description="The linked number, once linked")
    jid: str | None = None
    webhook_url: str | None = None
    dm_policy: DmPolicyName
    allow_from: list[str]
    last_error: LastError | None = None
    created_at: str
    updated_at: str
    connected_at: str | None = None


class SessionCreated(SessionOut):
    webhook_secret: str | None = Field(
        default=None, description="whsec_… signing secret; shown only in this response"
    )


class QrOut(_Model):
    status: SessionStatus
    qr: str | None = Field(description="data:image/png;base64,… while a QR is pending")
    qr_string: str | None = Field(
        default=None, description="The raw QR payload (for terminals or custom renderers)"
    )
    expires_at: str | None = None
    last_error: LastError | None = None


class DeletedOut(_Model):
    id: str
    deleted: bool


class PairingCodeRequest(_Request):
    phone: PhoneNumber = Field(description="The number to link, in international format")


class PairingCodeOut(_Model):
    status: SessionStatus
    code: str | None = Field(
        description="Type this on the phone: Linked devices → Link with number"
    )
    phone: str


# -- API keys -------------------------------------------------------------------------------------
class ApiKeyCreate(_Request):
    label: str = Field(min_length=1, max_length=100)
    session_id: str | None = Field(
        default=None, max_length=64, description="Limit the key to one session"
    )


class ApiKeyOut(_Model):
    id: str
    label: str
    hint: str = Field(description="The key's first characters, to tell keys apart")
    session_id: str | None = None
    created_at: str
    last_used_at: str | None = None
    revoked_at: str | None = None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="wsk_live_…; shown only in this response")


# -- messages -------------------------------------------------------------------------------------
class InternalSend(_Request):
    """A message to send: text, or media by URL (with an optional caption)."""

    to: str = Field(min_length=1, max_length=256, description="E.164 number or a JID")
    text: str | None = Field(default=None, max_length=MAX_TEXT, description="Markdown allowed")
    media_url: str | None = Field(default=None, max_length=2048)
    media_type: MediaType | None = None
    caption: str | None = Field(default=None, max_length=MAX_TEXT)
    reply_to_id: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _content(self) -> InternalSend:
        if self.media_url is None:
            if self.text is None or not self.text.strip():
                raise ValueError("give 'text' or 'mediaUrl'")
            if self.caption is not None or self.media_type is not None:
                raise ValueError("'caption' and 'mediaType' go with 'mediaUrl'")
        elif self.text is not None:
            raise ValueError("give 'text' or 'mediaUrl' (with 'caption'), not both")
        return self


MAX_MEDIA_DATA = 64 * 1024 * 1024  # base64 characters; the route's body limit binds first


def upload_body_limit(media_max_bytes: int) -> int:
    """The body limit of the dashboard's send: a file of ``media_max_bytes`` in base64, plus
    the rest of the JSON. (The file's own limit is checked after decoding: 413 naming
    ``mediaData``.)"""
    return (media_max_bytes + 2) // 3 * 4 + 64 * 1024


class DashboardSend(InternalSend):
    """The dashboard's compose box: ``InternalSend`` plus an uploaded file (``mediaData``,
    base64) in place of ``mediaUrl``. Only ``POST /api/sessions/{id}/send`` takes it."""

    media_data: str | None = Field(
        default=None, max_length=MAX_MEDIA_DATA, description="The file, base64 (standard)"
    )
    file_name: str | None = Field(default=None, max_length=255)

    @model_validator(mode="after")
    def _content(self) -> DashboardSend:  # replaces InternalSend._content
        media = [
            name for name, v in (("mediaUrl", self.media_url), ("mediaData", self.media_data)) if v
        ]
        if len(media) > 1:
            raise ValueError("give 'mediaUrl' or 'mediaData', not both")
        if not media:
            if self.text is None or not self.text.strip():
                raise ValueError("give 'text', 'mediaUrl' or 'mediaData'")
            if self.caption is not None or self.media_type is not None or self.file_name:
                raise ValueError("'caption', 'mediaType' and 'fileName' go with media")
        elif self.text is not None:
            raise ValueError(f"give 'text' or '{media[0]}' (with 'caption'), not both")
        return self


class MessageSend(InternalSend):
    session_id: str | None = Field(
        default=None, max_length=64, description="Which session sends; optional with one open"
    )


class MessageAccepted(_Model):
    id: str
    status: MessageStatusName


class MessageError(_Model):
    code: str
    message: str


class MessageOut(_Model):
    id: str
    session_id: str
    to: str
    status: MessageStatusName
    error: MessageError | None = None
    wa_id: str | None = Field(default=None, description="The WhatsApp message id")
    reply_to_id: str | None = None
    created_at: str
    updated_at: str
    sent_at: str | None = None
    delivered_at: str | None = None
    read_at: str | None = None


# -- pairing (dmPolicy) ---------------------------------------------------------------------------
class PairingRequestOut(_Model):
    code: str
    sender: str
    created_at: str
    expires_at: str
    held_messages: int


class PairingApproved(_Model):
    sender: str
    released_messages: int


# -- webhooks -------------------------------------------------------------------------------------
class DeliveryOut(_Model):
    id: str = Field(description="The event id (the webhook-id header receivers dedupe on)")
    event: str
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    last_status: int | None = Field(default=None, description="HTTP status of the last attempt")
    last_error: str | None = None
    next_attempt_at: str | None = None
    delivered_at: str | None = None
    dead_at: str | None = None
    created_at: str
    replay: bool = False


# -- health ---------------------------------------------------------------------------------------
class HealthOut(_Model):
    status: Literal["ok"]
    version: str
    sessions: dict[str, int] = Field(default_factory=dict)


def dump(model: BaseModel) -> dict[str, Any]:
    """The wire form (camelCase)."""
    return model.model_dump(by_alias=True)
