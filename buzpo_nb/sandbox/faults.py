"""Injected failures: what lets a bot developer rehearse a flaky WhatsApp on purpose.

A fault is one-shot: it is armed by the control API (``POST /sandbox/faults``) for either "the
next connection" or a named device, and consumed by the first connection it matches — or, for
``corrupt_next_message``, by the next message delivered to the named device (a companion or a
virtual phone). This module only keeps the plan; the connection adapter and the post office
carry the faults out.

``drop_before_ack`` is the lost acknowledgement: the next message the connection sends reaches
the server and its recipients, then the socket drops before the server's ack leaves, so the
client cannot know and must resend under the same id (recipients see it once).

``hold_acks`` keeps the connection's message acks back (the messages themselves are routed as
usual) until ``release_acks`` sends them: a slow server, without a clock, to watch how many
messages a client keeps in flight.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal, get_args

FaultAction = Literal[
    "drop",
    "stream_error",
    "stall",
    "drop_before_ack",
    "hold_acks",
    "release_acks",
    "corrupt_next_message",
]
MESSAGE_ACTIONS = ("corrupt_next_message",)  # carried out by the post office, per message
CONNECTION_ACTIONS = tuple(a for a in get_args(FaultAction) if a not in MESSAGE_ACTIONS)
NEXT_CONNECTION = "next"


@dataclass(frozen=True, slots=True)
class Fault:
    """One armed failure.

    ``target`` is ``"next"`` (whichever connection completes its handshake next) or a device jid
    in canonical form (``number:device@s.whatsapp.net``). ``code`` is for ``stream_error``;
    ``seconds`` for ``stall`` (None: stall until the connection dies).
    """

    id: str
    action: FaultAction
    target: str = NEXT_CONNECTION
    code: int | None = None
    seconds: float | None = None


class FaultPlan:
    """Armed faults in arming order; each is handed out once."""

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}
        self._ids = itertools.count(1)

    def arm(
        self,
        action: FaultAction,
        *,
        target: str = NEXT_CONNECTION,
        code: int | None = None,
        seconds: float | None = None,
    ) -> Fault:
        fault = Fault(f"f{next(self._ids)}", action, target, code, seconds)
        self._faults[fault.id] = fault
        return fault

    def pending(self) -> list[Fault]:
        return list(self._faults.values())

    def cancel(self, fault_id: str) -> Fault | None:
        return self._faults.pop(fault_id, None)

    def take(self, device_jid: str | None) -> list[Fault]:
        """Consume the faults for a connection that just finished its handshake.

        Faults naming its device come first, then at most one ``next`` fault, so one connection
        gets a single "next" fault and the following connection the one after.
        """
        armed = [f for f in self._faults.values() if f.action in CONNECTION_ACTIONS]
        taken = [f for f in armed if device_jid and f.target == device_jid]
        nxt = next((f for f in armed if f.target == NEXT_CONNECTION), None)
        if nxt is not None:
            taken.append(nxt)
        for fault in taken:
            del self._faults[fault.id]
        return taken

    def take_for_device(self, device_jid: str) -> list[Fault]:
        """Consume the connection faults naming a device that is connected right now."""
        taken = [
            f
            for f in self._faults.values()
            if f.target == device_jid and f.action in CONNECTION_ACTIONS
        ]
        for fault in taken:
            del self._faults[fault.id]
        return taken

    def take_message_fault(self, device_jid: str) -> Fault | None:
        """Consume the oldest message fault for the device a message is being delivered to."""
        fault = next(
            (
                f
                for f in self._faults.values()
                if f.target == device_jid and f.action in MESSAGE_ACTIONS
            ),
            None,
        )
        if fault is not None:
            del self._faults[fault.id]
        return fault
