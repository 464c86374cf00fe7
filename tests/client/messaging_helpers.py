"""Helpers for the messaging tests (imported by name): virtual phones, linked Buzpo clients,
and waits on a phone's screen that block on the sandbox's long-poll instead of sleeping."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from client_helpers import TIMEOUT, link_by_qr

from buzpo_nb.client import Client
from buzpo_nb.client.events import EventStream
from buzpo_nb.client.messages import Message, ReceiptUpdate

_numbers = itertools.count(15553000000)


async def new_phone(http: httpx.AsyncClient) -> str:
    number = str(next(_numbers))
    r = await http.post("/sandbox/phones", json={"number": number})
    assert r.status_code == 201, r.text
    return number


@asynccontextmanager
async def linked_client(
    make_client: Callable[..., Client], http: httpx.AsyncClient, number: str, folder: Path
) -> AsyncIterator[Client]:
    """A Buzpo client linked to ``number`` (QR), open, with its folder at ``folder``."""
    client = make_client(folder)
    async with client:
        await link_by_qr(client, http, number)
        await client.wait_until_open(TIMEOUT)
        yield client


class PhoneScreen:
    """Follows one virtual phone's messages (``GET /sandbox/phones/{n}/messages``)."""

    def __init__(self, http: httpx.AsyncClient, number: str) -> None:
        self.http = http
        self.number = number
        self.seq = 0
        self.messages: dict[str, dict[str, Any]] = {}

    async def wait(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT
    ) -> dict[str, Any]:
        """The first message (new or changed) that matches; waits on the sandbox's long-poll."""
        for m in self.messages.values():
            if predicate(m):
                return m
        waited = 0.0
        while waited < timeout:
            r = await self.http.get(
                f"/sandbox/phones/{self.number}/messages",
                params={"since": self.seq, "wait": min(5.0, timeout)},
            )
            assert r.status_code == 200, r.text
            batch = r.json()
            if not batch:
                waited += min(5.0, timeout)
                continue
            for m in batch:
                self.seq = max(self.seq, m["seq"])
                self.messages[m["id"]] = m
            for m in batch:
                if predicate(m):
                    return m
        raise TimeoutError(
            f"phone {self.number}: nothing matched; saw {list(self.messages.values())}"
        )

    async def send(self, to: str, text: str, reply_to: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"to": to, "text": text}
        if reply_to is not None:
            body["replyToId"] = reply_to
        r = await self.http.post(f"/sandbox/phones/{self.number}/messages", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    async def read(self, ids: list[str]) -> None:
        r = await self.http.post(f"/sandbox/phones/{self.number}/read", json={"ids": ids})
        assert r.status_code == 200, r.text


async def next_message(
    stream: EventStream | Any,
    predicate: Callable[[Message], bool] = lambda m: True,
    timeout: float = TIMEOUT,
) -> Message:
    """The next received ``Message`` on a ``client.messages()`` stream that matches."""
    while True:
        message = await stream.next(timeout)
        if predicate(message):
            return message


def receipt_for(message_id: str, status: int) -> Callable[[ReceiptUpdate], bool]:
    return lambda e: e.key.id == message_id and e.status >= status


def jid(number: str) -> str:
    return f"{number}@s.whatsapp.net"
