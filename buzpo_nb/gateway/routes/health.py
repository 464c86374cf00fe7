"""``/healthz`` (anyone: load balancers and ``curl``) and ``/metrics`` (admin, Prometheus)."""

from __future__ import annotations

import importlib.metadata

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from buzpo_nb.gateway.admin_auth import require_admin
from buzpo_nb.gateway.metrics import CONTENT_TYPE
from buzpo_nb.gateway.schemas import HealthOut
from buzpo_nb.gateway.services import ServicesDep

router = APIRouter(tags=["health"])

try:
    VERSION = importlib.metadata.version("buzpo-nb")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    VERSION = "0+unknown"


@router.get("/healthz", response_model=HealthOut)
async def healthz(svc: ServicesDep) -> HealthOut:
    """The server is up; live session counts by status."""
    return HealthOut(status="ok", version=VERSION, sessions=svc.sessions.counts())


@router.get("/metrics", response_class=PlainTextResponse, dependencies=[Depends(require_admin)])
async def metrics(svc: ServicesDep) -> PlainTextResponse:
    """Prometheus text format: sessions by status, messages by status, webhook queue."""
    return PlainTextResponse(await svc.metrics_text(), media_type=CONTENT_TYPE)
