"""Which live connection is which: the index the phone-side operations look connections up in.

A scan finds the companion by the noise key in the QR, a typed code by the phone number the
companion asked for, an unlink or a fault by device jid. The hub only indexes; it never talks
to a socket. It is generic over the connection type so it can be tested with plain objects.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

C = TypeVar("C")

# Refs of companions that went away, remembered so a late scan says "expired", not "unknown".
RETIRED_REFS_KEPT = 4096


class ConnectionHub(Generic[C]):
    def __init__(self) -> None:
        self.connections: set[C] = set()
        self._awaiting: dict[bytes, C] = {}
        self._refs_of: dict[C, tuple[str, ...]] = {}
        self._code_requests: dict[str, list[C]] = {}
        self._devices: dict[str, C] = {}
        self._retired_refs: OrderedDict[str, None] = OrderedDict()

    def add(self, conn: C) -> None:
        self.connections.add(conn)

    def remove(self, conn: C) -> None:
        """Forget a connection everywhere; its QR refs become "expired"."""
        self.connections.discard(conn)
        for ref in self._refs_of.pop(conn, ()):
            self._retired_refs[ref] = None
        while len(self._retired_refs) > RETIRED_REFS_KEPT:
            self._retired_refs.popitem(last=False)
        self._awaiting = {k: c for k, c in self._awaiting.items() if c is not conn}
        for number in list(self._code_requests):
            rest = [c for c in self._code_requests[number] if c is not conn]
            if rest:
                self._code_requests[number] = rest
            else:
                del self._code_requests[number]
        self._devices = {k: c for k, c in self._devices.items() if c is not conn}

    # -- registration connections ----------------------------------------------------------------
    def awaiting_link(self, conn: C, noise_public: bytes, refs: tuple[str, ...]) -> None:
        self._awaiting[noise_public] = conn
        self._refs_of[conn] = refs

    def linked(self, conn: C) -> None:
        """The connection's link completed: it no longer answers scans or codes."""
        self._awaiting = {k: c for k, c in self._awaiting.items() if c is not conn}
        self._refs_of.pop(conn, None)
        for number in list(self._code_requests):
            self._code_requests[number] = [c for c in self._code_requests[number] if c is not conn]

    def by_noise_key(self, noise_public: bytes) -> C | None:
        return self._awaiting.get(noise_public)

    def is_retired_ref(self, ref: str) -> bool:
        return ref in self._retired_refs

    def code_requested(self, conn: C, number: str) -> None:
        waiting = [c for c in self._code_requests.get(number, []) if c is not conn]
        self._code_requests[number] = [*waiting, conn]

    def code_requests(self, number: str) -> list[C]:
        """Companions waiting for a code for ``number``, newest first."""
        return list(reversed(self._code_requests.get(number, [])))

    # -- logged-in connections -------------------------------------------------------------------
    def claim_device(self, jid: str, conn: C) -> C | None:
        """Register ``conn`` as the live connection of ``jid``; returns the one it replaces."""
        old = self._devices.get(jid)
        self._devices[jid] = conn
        return old if old is not conn else None

    def release_device(self, jid: str, conn: C) -> None:
        if self._devices.get(jid) is conn:
            del self._devices[jid]

    def by_device(self, jid: str) -> C | None:
        return self._devices.get(jid)
