"""Who may reach a session's owner by direct message (``dmPolicy``), decided per message.

A gateway number is usually a bot: anyone who learns the number could otherwise make it act
(answer, spend LLM tokens, forward data). The default policy, ``pairing``, gives an unknown
sender a short code once; the owner approves the code, and only then are that sender's messages
(including the ones held meanwhile) delivered as ``message_received``. A contact the owner
wrote to first (a 1:1 message sent through the gateway) counts as approved: the store approves
it when the message is sent, so their reply is delivered at once. ``allowlist`` accepts only
``allowFrom`` numbers, ``open`` everyone, ``disabled`` nobody. Groups are never filtered here
(group membership is the owner's own decision), nor are our own messages from other devices.

``decide`` is a pure function of the facts (policy, sender, approved or not); ``inbound.py``
looks the facts up and carries the verdict out with the store, which creates a pairing request
atomically (one per sender, at most ``MAX_PENDING`` live per session, ``PAIRING_TTL``). Codes
come from ``secrets`` unless given. ``PairingBook`` is the owner's side: list and approve.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass

from buzpo_nb.gateway.errors import NotFound
from buzpo_nb.gateway.store import GatewayStore, PairingNotFound, PairingRequest

PAIRING_CODE_LENGTH = 8
# Crockford-like: no 0/O, 1/I/L, U, so a code read aloud or retyped survives.
PAIRING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
PAIRING_TTL = 3600.0  # a code expires after an hour
MAX_PENDING = 3  # per session: unknown senders cannot flood the owner's approval list

POLICIES = ("pairing", "allowlist", "open", "disabled")


class Verdict(enum.Enum):
    DELIVER = "deliver"  # store it and send ``message_received``
    PAIRING = "pairing"  # unknown sender under ``pairing``: hold it behind a pairing request
    DROP = "drop"  # neither stored nor delivered


@dataclass(frozen=True)
class Inbound:
    """The facts about one inbound message that the policy needs."""

    sender: str  # the sender's number (digits), or their LID user part when that is all we know
    is_group: bool
    from_me: bool


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str


def new_pairing_code(random: bytes | None = None) -> str:
    """8 characters from ``PAIRING_ALPHABET`` (``random``: 8 bytes, for tests)."""
    raw = random if random is not None else secrets.token_bytes(PAIRING_CODE_LENGTH)
    if len(raw) != PAIRING_CODE_LENGTH:
        raise ValueError(f"need {PAIRING_CODE_LENGTH} random bytes")
    return "".join(PAIRING_ALPHABET[b % len(PAIRING_ALPHABET)] for b in raw)


def normalize_code(code: str) -> str:
    """What the owner typed, forgiving case, spaces and a dash (``abcd-2345``)."""
    return "".join(code.split()).replace("-", "").upper()


def decide(
    message: Inbound, *, policy: str, allow_from: frozenset[str], approved: bool
) -> Decision:
    """The verdict for one inbound message. ``approved``: the sender was approved through
    pairing before. Whether a ``PAIRING`` message gets a reply (first time, room for another
    pending request) is the store's call, made atomically with creating the request."""
    if message.from_me:
        return Decision(Verdict.DELIVER, "sent from another of our devices")
    if message.is_group:
        return Decision(Verdict.DELIVER, "groups are not filtered")
    if policy == "open":
        return Decision(Verdict.DELIVER, "policy open")
    if policy == "disabled":
        return Decision(Verdict.DROP, "direct messages are disabled")
    if message.sender in allow_from:
        return Decision(Verdict.DELIVER, "sender in allowFrom")
    if policy == "allowlist":
        return Decision(Verdict.DROP, "sender not in allowFrom")
    if policy != "pairing":
        raise ValueError(f"unknown dmPolicy {policy!r}")
    if approved:
        return Decision(Verdict.DELIVER, "sender approved")
    return Decision(Verdict.PAIRING, "unknown sender")


def pairing_reply(code: str) -> str:
    """The one message an unknown sender gets."""
    return (
        "This number only answers approved contacts. "
        f"Your pairing code is {code} (valid for 1 hour); "
        "ask the owner to approve it."
    )


class PairingBook:
    """The owner's side of pairing: list pending requests, approve one by its code.

    Approving releases the sender's held messages as ``message_received`` in the same store
    transaction, so nothing held is lost or delivered twice.
    """

    def __init__(self, store: GatewayStore) -> None:
        self.store = store

    async def pending(self, session_id: str) -> list[tuple[PairingRequest, int]]:
        """Live requests, oldest first, each with how many messages it holds."""
        self._session_exists(await self.store.get_session(session_id), session_id)
        requests = await self.store.list_pairing_requests(session_id)
        held = await self.store.list_messages(session_id, direction="in", limit=1 << 30)
        counts: dict[str, int] = {}
        for message in held:
            if message.held and message.sender is not None:
                counts[message.sender] = counts.get(message.sender, 0) + 1
        return [(r, counts.get(r.sender, 0)) for r in requests]

    async def approve(self, session_id: str, code: str) -> tuple[PairingRequest, int]:
        """Approve ``code``; returns the request and how many held messages were released."""
        self._session_exists(await self.store.get_session(session_id), session_id)
        try:
            request, released = await self.store.approve_pairing(session_id, normalize_code(code))
        except PairingNotFound:
            raise NotFound(
                f"no pending pairing code {code!r} (unknown, expired or already approved)",
                field="code",
                code="pairing_code_not_found",
            ) from None
        return request, len(released)

    @staticmethod
    def _session_exists(session: object, session_id: str) -> None:
        if session is None:
            raise NotFound(
                f"no session {session_id!r}", code="session_not_found", field="sessionId"
            )
