"""``/api/api-keys``: mint (shown once), list (never the key) and revoke API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from buzpo_nb.gateway.admin_auth import require_admin
from buzpo_nb.gateway.errors import NotFound
from buzpo_nb.gateway.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, iso
from buzpo_nb.gateway.services import ApiKeysDep
from buzpo_nb.gateway.store import ApiKeyRecord, SessionNotFound

router = APIRouter(prefix="/api/api-keys", tags=["api keys"], dependencies=[Depends(require_admin)])


@router.post("", status_code=201, response_model=ApiKeyCreated)
async def create_key(body: ApiKeyCreate, keys: ApiKeysDep) -> ApiKeyCreated:
    """A new key for ``/api/v1``; the ``key`` is in this response only (stored as a hash)."""
    try:
        new = await keys.create(body.label, session_id=body.session_id)
    except SessionNotFound:  # found by schemathesis: was a 500
        raise NotFound(
            f"no session {body.session_id!r}", field="sessionId", code="session_not_found"
        ) from None
    return ApiKeyCreated(**key_out(new.record).model_dump(), key=new.key)


@router.get("", response_model=list[ApiKeyOut])
async def list_keys(keys: ApiKeysDep) -> list[ApiKeyOut]:
    return [key_out(record) for record in await keys.list()]


@router.delete("", response_model=ApiKeyOut)
async def revoke_key(
    keys: ApiKeysDep,
    id: Annotated[str, Query(min_length=1, max_length=64, description="The key's id (key_…)")],
) -> ApiKeyOut:
    """Revoke at once: the next request with this key is 401."""
    record = await keys.revoke(id)
    if record is None:
        raise NotFound(f"no API key {id!r}", field="id", code="api_key_not_found")
    return key_out(record)


def key_out(record: ApiKeyRecord) -> ApiKeyOut:
    return ApiKeyOut(
        id=record.id,
        label=record.label,
        hint=record.hint,
        session_id=record.session_id,
        created_at=iso(record.created_at),
        last_used_at=iso(record.last_used_at),
        revoked_at=iso(record.revoked_at),
    )
