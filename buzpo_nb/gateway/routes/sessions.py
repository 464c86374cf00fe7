"""``/api/sessions``: create, list, link (QR or pairing code) and delete WhatsApp sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from buzpo_nb.gateway.admin_auth import require_admin
from buzpo_nb.gateway.live_events import LiveEvent, live_events
from buzpo_nb.gateway.schemas import (
    DeletedOut,
    LastError,
    PairingCodeOut,
    PairingCodeRequest,
    QrOut,
    SessionCreate,
    SessionCreated,
    SessionOut,
    iso,
)
from buzpo_nb.gateway.services import SendPipelineDep, SessionsDep
from buzpo_nb.gateway.sessions import LastError as SessionError
from buzpo_nb.gateway.sessions import SessionView

router = APIRouter(prefix="/api/sessions", tags=["sessions"], dependencies=[Depends(require_admin)])


@router.get("", response_model=list[SessionOut])
async def list_sessions(manager: SessionsDep) -> list[SessionOut]:
    """Every session with its live status."""
    return [session_out(view) for view in await manager.list()]


@router.post("", status_code=201, response_model=SessionCreated)
async def create_session(
    body: SessionCreate, manager: SessionsDep, request: Request
) -> SessionCreated:
    """A new session; its webhook signing secret (``whsec_…``) is shown only here."""
    view, secret = await manager.create(
        body.name,
        webhook_url=body.webhook_url,
        dm_policy=body.dm_policy,
        allow_from=body.allow_from,
    )
    live_events(request.app).publish(LiveEvent("session", view.id))  # other dashboard tabs
    return SessionCreated(**session_out(view).model_dump(), webhook_secret=secret)


@router.get("/{session_id}", response_model=SessionOut)
async def get_session(session_id: str, manager: SessionsDep) -> SessionOut:
    return session_out(await manager.get(session_id))


@router.post("/{session_id}/qr", response_model=QrOut)
async def qr(
    session_id: str,
    manager: SessionsDep,
    refresh: Annotated[
        bool, Query(description="1: drop the current socket and open a new one")
    ] = False,
) -> QrOut:
    """Start or resume linking. Idempotent while a login is pending (the current QR comes
    back); a linked session answers ``open`` with no QR."""
    state = await manager.qr(session_id, refresh=refresh)
    return QrOut(
        status=state.status,
        qr=state.data_url,
        qr_string=state.qr_string,
        expires_at=iso(state.expires_at),
        last_error=_error(state.last_error),
    )


@router.post("/{session_id}/pairing-code", response_model=PairingCodeOut)
async def pairing_code(
    session_id: str, body: PairingCodeRequest, manager: SessionsDep
) -> PairingCodeOut:
    """Link by typing an 8-character code on the phone instead of scanning a QR."""
    code, status = await manager.pairing_code(session_id, body.phone)
    return PairingCodeOut(status=status, code=code, phone=body.phone)


@router.delete("/{session_id}", response_model=DeletedOut)
async def delete_session(
    session_id: str, manager: SessionsDep, pipeline: SendPipelineDep, request: Request
) -> DeletedOut:
    """Stop, log the device out where possible, clear its credentials and forget it, with its
    messages' thumbnails and the uploaded files its unsent messages were waiting with."""
    media = await pipeline.store.message_media(session_id)  # read before the rows go
    await manager.delete(session_id)
    await live_events(request.app).thumbnails.delete([mid for mid, _ in media])
    await pipeline.release_uploads([url for _, url in media])
    live_events(request.app).publish(LiveEvent("session", session_id))  # rendered as deleted
    return DeletedOut(id=session_id, deleted=True)


def session_out(view: SessionView) -> SessionOut:
    record = view.record
    return SessionOut(
        id=record.id,
        name=record.name,
        status=view.status,
        phone=view.linked_number,
        jid=view.linked_jid,
        webhook_url=record.webhook_url,
        dm_policy=record.dm_policy,
        allow_from=list(record.allow_from),
        last_error=_error(view.last_error),
        created_at=iso(record.created_at),
        updated_at=iso(record.updated_at),
        connected_at=iso(record.connected_at),
    )


def _error(error: SessionError | None) -> LastError | None:
    if error is None:
        return None
    return LastError(code=error.code, message=error.message, at=iso(error.at) if error.at else None)
