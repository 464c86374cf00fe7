"""HTTP routes of the media host, on the sandbox's own port (no TLS: clients reach it through
a fetch rewrite or a base-URL setting, media-spike.md).

``POST /mms/<kind>/<token>?auth=&token=`` stores an upload and answers WhatsApp's JSON
``{"url": "https://mmg.whatsapp.net<dp>", "direct_path": "<dp>"}``; ``GET /v/...`` (and
``/mms/...`` download paths) serve the stored ``enc || mac`` as is, honouring a single
``Range`` (ignoring it would make ranged downloads return wrong bytes silently). The control
hook ``POST /sandbox/media/expire {"directPath"}`` makes a blob answer 410.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from buzpo_nb.sandbox.errors import InvalidRequest
from buzpo_nb.sandbox.media_host import MediaHost, StoredMedia
from buzpo_nb.sandbox.service import Sandbox

router = APIRouter(tags=["media"])
control = APIRouter(prefix="/sandbox/media", tags=["media"])

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _host(request: Request) -> MediaHost:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox.media


@router.post("/mms/{kind}/{token}")
async def upload(kind: str, token: str, request: Request) -> dict[str, str]:
    """Store an encrypted upload (chunked or with Content-Length) under a fresh direct path."""
    host = _host(request)
    host.check_auth(request.query_params.get("auth"))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        host.check_size(int(declared))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        host.check_size(len(body))
    return host.store(kind, bytes(body), token).answer()


async def _download(path: str, request: Request) -> Response:
    stored = _host(request).fetch(path)
    return _ranged(stored, request.headers.get("range"))


@router.get("/v/{rest:path}")
async def download(rest: str, request: Request) -> Response:
    return await _download(f"/v/{rest}", request)


@router.get("/mms/{rest:path}")
async def download_mms(rest: str, request: Request) -> Response:
    return await _download(f"/mms/{rest}", request)


def _ranged(stored: StoredMedia, header: str | None) -> Response:
    data = stored.data
    headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
    if not header:
        return Response(data, headers=headers)
    match = _RANGE.match(header.strip())
    size = len(data)
    if match is None or match.groups() == ("", ""):
        raise InvalidRequest(f"only one 'bytes=a-b' range is supported, got {header!r}")
    first, last = match.groups()
    if first == "":  # suffix: the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        headers["Content-Range"] = f"bytes */{size}"
        return Response(b"", status_code=416, headers=headers)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(data[start : end + 1], status_code=206, headers=headers)


class ExpireIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    direct_path: str = Field(alias="directPath", description="A direct path or mmg URL")


class MediaOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    direct_path: str = Field(serialization_alias="directPath")
    url: str
    kind: str
    size: int
    expired: bool


@control.post("/expire", response_model=MediaOut, response_model_by_alias=True)
async def expire(body: ExpireIn, request: Request) -> MediaOut:
    """Make a stored blob answer 410 Gone (tests of the re-upload path)."""
    path = body.direct_path.removeprefix("https://mmg.whatsapp.net")
    stored = _host(request).expire(path)
    return MediaOut(
        direct_path=stored.direct_path,
        url=stored.url,
        kind=stored.kind,
        size=len(stored.data),
        expired=True,
    )
