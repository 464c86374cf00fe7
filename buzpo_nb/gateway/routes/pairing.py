"""``/api/sessions/{id}/pairing``: the owner sees who asked to talk (dmPolicy ``pairing``) and
approves them by code."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from buzpo_nb.gateway.admin_auth import require_admin
from buzpo_nb.gateway.live_events import LiveEvent, live_events
from buzpo_nb.gateway.schemas import PairingApproved, PairingRequestOut, iso
from buzpo_nb.gateway.services import PairingBookDep

router = APIRouter(prefix="/api/sessions", tags=["pairing"], dependencies=[Depends(require_admin)])


@router.get("/{session_id}/pairing", response_model=list[PairingRequestOut])
async def pending(session_id: str, book: PairingBookDep) -> list[PairingRequestOut]:
    """Unexpired, unapproved pairing requests, oldest first."""
    return [
        PairingRequestOut(
            code=request.code,
            sender=request.sender,
            created_at=iso(request.created_at),
            expires_at=iso(request.expires_at),
            held_messages=held,
        )
        for request, held in await book.pending(session_id)
    ]


@router.post("/{session_id}/pairing/{code}/approve", response_model=PairingApproved)
async def approve(
    session_id: str,
    code: Annotated[str, Path(min_length=1, max_length=32)],
    book: PairingBookDep,
    http: Request,
) -> PairingApproved:
    """Allow this sender from now on; their held messages are delivered now."""
    request, released = await book.approve(session_id, code)
    live_events(http.app).publish(LiveEvent("messages", session_id))  # other dashboard tabs
    return PairingApproved(sender=request.sender, released_messages=released)
