"""The sandbox's HTTP control API (``/sandbox/...``): virtual phones, links, faults.

Thin routes over the ``Sandbox`` service object; request and response shapes are Pydantic
models so the OpenAPI schema at ``/docs`` is exact. Errors are always JSON
``{"error": "...", "field": "..."|null}`` (see ``app.py`` for the handlers).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from buzpo_nb.sandbox.device_session import LinkCompleted
from buzpo_nb.sandbox.errors import NoSuchFault
from buzpo_nb.sandbox.faults import Fault, FaultAction
from buzpo_nb.sandbox.service import DeviceStatus, Sandbox
from buzpo_nb.sandbox.world import Phone

router = APIRouter(prefix="/sandbox", tags=["sandbox"])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- models -------------------------------------------------------------------------------------
class PhoneIn(_Strict):
    number: str = Field(description="International number without '+', e.g. 15551234567")
    lid: str | None = Field(default=None, description="LID user part; random 15 digits if absent")


class PhoneOut(BaseModel):
    number: str
    jid: str
    lid: str
    devices: int

    @classmethod
    def of(cls, phone: Phone) -> PhoneOut:
        return cls(
            number=phone.number, jid=phone.jid(), lid=phone.lid_jid(), devices=len(phone.devices)
        )


class LinkIn(_Strict):
    qr: str | None = Field(default=None, description="The QR string the companion showed")
    code: str | None = Field(default=None, description="The 8-character pairing code")


class LinkOut(BaseModel):
    phone: str
    device_id: int
    jid: str
    lid: str

    @classmethod
    def of(cls, done: LinkCompleted) -> LinkOut:
        return cls(phone=done.phone_number, device_id=done.device_id, jid=done.jid, lid=done.lid)


class DeviceOut(BaseModel):
    device_id: int
    jid: str
    lid: str
    platform: str
    key_index: int
    linked_at: int
    pre_keys: int
    connected: bool

    @classmethod
    def of(cls, status: DeviceStatus) -> DeviceOut:
        d = status.device
        return cls(
            device_id=d.device_id,
            jid=status.jid,
            lid=status.lid,
            platform=d.platform,
            key_index=d.key_index,
            linked_at=d.linked_at,
            pre_keys=len(d.pre_keys),
            connected=status.connected,
        )


class FaultIn(_Strict):
    action: FaultAction
    jid: str | None = Field(
        default=None,
        description="Device jid (a phone's own jid = the virtual phone); absent = the next "
        "connection. corrupt_next_message breaks the next message delivered to it.",
    )
    code: int | None = Field(default=None, ge=100, le=999, description="For stream_error")
    seconds: float | None = Field(default=None, gt=0, description="For stall; absent = forever")


class FaultOut(BaseModel):
    id: str
    action: str
    target: str
    code: int | None
    seconds: float | None

    @classmethod
    def of(cls, fault: Fault) -> FaultOut:
        return cls(
            id=fault.id,
            action=fault.action,
            target=fault.target,
            code=fault.code,
            seconds=fault.seconds,
        )


class StatusOut(BaseModel):
    phones: int
    linked_devices: int
    connections: int
    ws_path: str = "/ws/chat"


def _sandbox(request: Request) -> Sandbox:
    return request.app.state.sandbox  # type: ignore[no-any-return]


# -- routes -------------------------------------------------------------------------------------
@router.get("", response_model=StatusOut)
async def status(request: Request) -> StatusOut:
    sb = _sandbox(request)
    return StatusOut(
        phones=len(sb.world.phones),
        linked_devices=sum(1 for _ in sb.world.devices()),
        connections=len(sb.hub.connections),
    )


@router.post("/phones", status_code=201, response_model=PhoneOut)
async def create_phone(body: PhoneIn, request: Request) -> PhoneOut:
    return PhoneOut.of(_sandbox(request).create_phone(body.number, lid=body.lid))


@router.get("/phones", response_model=list[PhoneOut])
async def list_phones(request: Request) -> list[PhoneOut]:
    return [PhoneOut.of(p) for p in _sandbox(request).phones()]


@router.get("/phones/{number}", response_model=PhoneOut)
async def get_phone(number: str, request: Request) -> PhoneOut:
    return PhoneOut.of(_sandbox(request).phone(number))


@router.post("/phones/{number}/link", response_model=LinkOut)
async def link(number: str, body: LinkIn, request: Request) -> LinkOut:
    """Link the companion that shows this QR / pairing code, as the phone would.

    Answers once the companion's device signature was verified and the device stored.
    """
    done = await _sandbox(request).link(number, qr=body.qr, code=body.code)
    return LinkOut.of(done)


@router.get("/phones/{number}/devices", response_model=list[DeviceOut])
async def list_devices(number: str, request: Request) -> list[DeviceOut]:
    return [DeviceOut.of(s) for s in _sandbox(request).devices(number)]


@router.delete("/phones/{number}/devices/{device_id}", response_model=DeviceOut)
async def unlink(number: str, device_id: int, request: Request) -> DeviceOut:
    """Unlink a device; a connected one receives 401 device_removed and is closed."""
    return DeviceOut.of(_sandbox(request).unlink(number, device_id))


@router.post("/faults", status_code=201, response_model=FaultOut)
async def arm_fault(body: FaultIn, request: Request) -> FaultOut:
    fault = _sandbox(request).arm_fault(
        body.action, jid=body.jid, code=body.code, seconds=body.seconds
    )
    return FaultOut.of(fault)


@router.get("/faults", response_model=list[FaultOut])
async def list_faults(request: Request) -> list[FaultOut]:
    return [FaultOut.of(f) for f in _sandbox(request).faults.pending()]


@router.delete("/faults/{fault_id}", status_code=204)
async def cancel_fault(fault_id: str, request: Request) -> Response:
    if _sandbox(request).faults.cancel(fault_id) is None:
        raise NoSuchFault(f"no armed fault {fault_id}", field="fault_id")
    return Response(status_code=204)
