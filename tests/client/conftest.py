"""Fixtures for client tests: the real sandbox over loopback, its HTTP control API, clients
with fast settings. Helpers live in ``client_helpers.py``."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from client_helpers import TIMEOUT, fast_policy

from buzpo_nb.client import Client
from buzpo_nb.sandbox import SandboxServer

_numbers = itertools.count(15550001000)


@pytest.fixture
async def http(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.http_url, timeout=TIMEOUT) as client:
        yield client


@pytest.fixture
async def phone(http: httpx.AsyncClient) -> str:
    number = str(next(_numbers))
    r = await http.post("/sandbox/phones", json={"number": number})
    assert r.status_code == 201, r.text
    return number


@pytest.fixture
def make_client(sandbox: SandboxServer, tmp_path: Path) -> Callable[..., Client]:
    def make(auth: Path | None = None, **options: Any) -> Client:
        options.setdefault("reconnect", fast_policy())
        options.setdefault("connect_timeout", 5.0)
        options.setdefault("query_timeout", 5.0)
        return Client(auth or tmp_path / "auth", url=sandbox.ws_url, **options)

    return make
