"""One companion connection as the server sees it, after the Noise handshake: a state machine.

Everything WhatsApp's server decides for a single connection lives here, sans-I/O: which
stanza answers which, when a link is complete, who gets ``success`` and who a ``failure``.
The adapter (``connection.py``) feeds it the handshake result and decoded nodes, calls the
phone-initiated operations (``offer_qr_link``, ``offer_code_link``, ``remove_device``) and
carries out ``outbox`` (nodes to send, then maybe close). ``events`` tell the hub what changed.

Phases::

    registration payload → AWAITING_SCAN (pair-device sent)
        phone scans QR / enters code → AWAITING_SIGN (pair-success sent)
        pair-device-sign verified → LINKED (device stored, stream:error 515, close)
    login payload → LOGGED_IN (success, the offline queue, <ib><offline count/>) | CLOSED (401)

Once logged in, ``message`` and ``receipt`` stanzas are handed to the post office as
``StanzaReceived`` events, and stanzas routed to the device come in through ``deliver``. A
delivered message counts as unacknowledged until the device answers it (receipt or ack); the
adapter gives the unacknowledged ones back (``take_unacked``) when the connection dies, so they
are delivered again instead of lost.

Shapes follow protocol-map §3, §4 and sandbox-spike.md. The clock comes in as ``now`` arguments.
"""

from __future__ import annotations

import base64
import enum
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError as ProtobufDecodeError

from buzpo_nb.sandbox import iq_router
from buzpo_nb.sandbox import phone as phone_side
from buzpo_nb.sandbox.errors import (
    BadQr,
    CompanionGone,
    LinkError,
    LinkInProgress,
    NoPendingCompanion,
    QrExpired,
    UnknownRef,
    WrongCode,
)
from buzpo_nb.sandbox.media_host import MediaHost
from buzpo_nb.sandbox.offline_queue import marked_offline
from buzpo_nb.sandbox.world import LinkedDevice, Phone, SignedPreKeyRecord, World
from buzpo_nb.wa import pairing_code, stanzas
from buzpo_nb.wa.binary.node import Node
from buzpo_nb.wa.errors import CryptoError, DecodeError, PairingError, ProtocolError
from buzpo_nb.wa.keys import signal_public, xeddsa_verify
from buzpo_nb.wa.pairing import QrData
from buzpo_nb.wa.proto import wa_pb2 as waproto

# How many refs one pair-device offers, and their lifetimes as Baileys rotates them
# (socket.js: first ref qrTimeout||60 s, later ones 20 s each; real WhatsApp sends 6).
QR_REF_COUNT = 6
QR_FIRST_REF_SECONDS = 60.0
QR_NEXT_REF_SECONDS = 20.0


class Phase(enum.Enum):
    NEW = "new"  # handshake done, payload not yet judged
    AWAITING_SCAN = "awaiting_scan"
    AWAITING_SIGN = "awaiting_sign"
    LINKED = "linked"
    LOGGED_IN = "logged_in"
    CLOSED = "closed"


# -- outputs ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Send:
    node: Node


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection after everything queued before it has been sent."""

    reason: str


Output = Send | Close


# -- events for the hub -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AwaitingLink:
    """A registration connection is showing QR codes (indexable by its noise key)."""

    noise_public: bytes
    refs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CodeRequested:
    """The companion asked to link to ``number`` with a pairing code."""

    number: str


@dataclass(frozen=True, slots=True)
class LinkCompleted:
    phone_number: str
    device_id: int
    jid: str
    lid: str


@dataclass(frozen=True, slots=True)
class LinkFailed:
    error: LinkError


@dataclass(frozen=True, slots=True)
class LoggedIn:
    jid: str


@dataclass(frozen=True, slots=True)
class LoggedOut:
    """The companion unlinked itself (``remove-companion-device``)."""

    jid: str


@dataclass(frozen=True, slots=True)
class StanzaReceived:
    """A ``message`` or ``receipt`` from the logged-in device, to be routed."""

    node: Node


SessionEvent = (
    AwaitingLink
    | CodeRequested
    | LinkCompleted
    | LinkFailed
    | LoggedIn
    | LoggedOut
    | StanzaReceived
)


@dataclass(slots=True)
class Registration:
    """The companion's keys from ``devicePairingData``: its bundle once it is linked."""

    noise_public: bytes
    identity_public: bytes
    registration_id: int
    signed_pre_key: SignedPreKeyRecord
    platform: str


@dataclass(slots=True)
class _IssuedRefs:
    refs: list[str]
    issued_at: float

    def expiry(self, index: int) -> float:
        return self.issued_at + QR_FIRST_REF_SECONDS + QR_NEXT_REF_SECONDS * index


@dataclass(slots=True)
class _CodeAttempt:
    """A code the phone typed, sent to the companion; judged when companion_finish arrives."""

    phone: Phone
    keys: pairing_code.PrimaryHelloKeys


@dataclass
class DeviceSession:
    """Server-side state of one connection. Feed it; read ``outbox`` and ``events``."""

    world: World
    random_bytes: Callable[[int], bytes] = os.urandom
    media: MediaHost | None = None  # answers media_conn; None = no media host (unit tests)
    phase: Phase = Phase.NEW
    noise_public: bytes = b""
    registration: Registration | None = None
    phone: Phone | None = None
    device: LinkedDevice | None = None
    code_hello: stanzas.CompanionHello | None = None  # the companion asked for a code link
    outbox: list[Output] = field(default_factory=list)
    events: list[SessionEvent] = field(default_factory=list)
    _refs: _IssuedRefs | None = None
    _offer: phone_side.LinkOffer | None = None
    _offer_iq_id: str = ""
    _code_ref: bytes = b""
    _code_attempt: _CodeAttempt | None = None
    _ids: int = 0
    _unacked: dict[str, Node] = field(default_factory=dict)  # delivered message id -> stanza

    # -- identity ----------------------------------------------------------------------------
    @property
    def device_jid(self) -> str | None:
        if self.phone is None or self.device is None:
            return None
        return self.phone.jid(self.device.device_id)

    @property
    def refs(self) -> list[str]:
        return list(self._refs.refs) if self._refs else []

    def next_id(self, prefix: str = "sb") -> str:
        self._ids += 1
        return f"{prefix}-{self._ids}"

    def take_outbox(self) -> list[Output]:
        out, self.outbox = self.outbox, []
        return out

    def take_events(self) -> list[SessionEvent]:
        out, self.events = self.events, []
        return out

    # -- routed traffic ----------------------------------------------------------------------
    def deliver(self, node: Node) -> None:
        """A stanza routed to this device (a message, receipt or notification)."""
        if node.tag == "message" and node.attrs.get("id"):
            self._unacked[node.attrs["id"]] = node
        self._send(node)

    def take_unacked(self) -> list[Node]:
        """Delivered messages the device never answered, oldest first (for redelivery)."""
        out = list(self._unacked.values())
        self._unacked.clear()
        return out

    def _answered(self, ids: list[str]) -> None:
        for msg_id in ids:
            self._unacked.pop(msg_id, None)

    def _send(self, node: Node) -> None:
        self.outbox.append(Send(node))

    def _close(self, reason: str) -> None:
        if self.phase is not Phase.CLOSED:
            self.outbox.append(Close(reason))
            self._abandon_link(CompanionGone(f"the companion connection closed: {reason}"))
            self.phase = Phase.CLOSED

    # -- handshake ---------------------------------------------------------------------------
    def handshake_complete(self, client_static: bytes, client_payload: bytes, now: float) -> None:
        """Judge the ClientPayload: registration → pair-device, login → success or failure.

        Raises ``ProtocolError`` for a payload that is neither (the adapter drops the socket).
        """
        if self.phase is not Phase.NEW:
            raise ProtocolError("handshake_complete called twice")
        self.noise_public = client_static
        try:
            payload = waproto.ClientPayload.FromString(client_payload)
        except ProtobufDecodeError as exc:
            raise DecodeError(f"ClientPayload is not a valid protobuf: {exc}") from exc
        if payload.HasField("devicePairingData"):
            self._start_registration(payload, now)
        elif payload.HasField("username") and payload.HasField("device"):
            self._login(payload, now)
        else:
            raise ProtocolError("ClientPayload is neither a registration nor a login")

    def _start_registration(self, payload: waproto.ClientPayload, now: float) -> None:
        data = payload.devicePairingData
        sizes = {"eRegid": 4, "eKeytype": 1, "eIdent": 32, "eSkeyId": 3, "eSkeyVal": 32}
        for name, size in sizes.items():
            if len(getattr(data, name)) != size:
                raise DecodeError(f"devicePairingData.{name} must be {size} bytes")
        if len(data.eSkeySig) != 64:
            raise DecodeError("devicePairingData.eSkeySig must be 64 bytes")
        if not xeddsa_verify(data.eIdent, signal_public(data.eSkeyVal), data.eSkeySig):
            raise ProtocolError("the signed pre-key in devicePairingData is not signed by eIdent")
        self.registration = Registration(
            noise_public=self.noise_public,
            identity_public=data.eIdent,
            registration_id=int.from_bytes(data.eRegid, "big"),
            signed_pre_key=SignedPreKeyRecord(
                key_id=int.from_bytes(data.eSkeyId, "big"),
                public=data.eSkeyVal,
                signature=data.eSkeySig,
            ),
            platform=_platform_name(data.deviceProps),
        )
        refs = [self._new_ref() for _ in range(QR_REF_COUNT)]
        self._refs = _IssuedRefs(refs, now)
        self._send(stanzas.pair_device(self.next_id("pd"), refs))
        self.phase = Phase.AWAITING_SCAN
        self.events.append(AwaitingLink(self.noise_public, tuple(refs)))

    def _new_ref(self) -> str:
        # Real refs look like "2@<base64>"; Baileys treats them as opaque text.
        return "2@" + base64.b64encode(self.random_bytes(33)).decode()

    def _login(self, payload: waproto.ClientPayload, now: float) -> None:
        found = self.world.device_by_noise_key(self.noise_public)
        if found is not None:
            phone, device = found
            if phone.number == str(payload.username) and device.device_id == payload.device:
                self.phone, self.device = phone, device
                self.phase = Phase.LOGGED_IN
                self._send(stanzas.success(t=int(now), lid=phone.lid_jid(device.device_id)))
                queued = self.world.offline.take(phone.jid(device.device_id))
                for node in queued:
                    self.deliver(marked_offline(node))
                if queued:
                    self.world.changed()
                self._send(stanzas.offline_done(len(queued)))
                self.events.append(LoggedIn(phone.jid(device.device_id)))
                return
        self._send(stanzas.failure(stanzas.LOGGED_OUT))
        self._close("login refused: unknown or removed device")

    # -- phone-initiated operations ------------------------------------------------------------
    def check_qr(self, qr: QrData, now: float) -> None:
        """Raise the ``LinkError`` a phone would show for this scan, if any."""
        if self.phase is Phase.AWAITING_SIGN:
            raise LinkInProgress("this companion is already being linked")
        if self.phase is not Phase.AWAITING_SCAN or self._refs is None:
            raise QrExpired("the companion is no longer waiting for a scan")
        assert self.registration is not None
        if qr.ref not in self._refs.refs:
            raise UnknownRef("the QR's ref was not issued to this companion")
        if now >= self._refs.expiry(self._refs.refs.index(qr.ref)):
            raise QrExpired("the QR code has expired; scan the one the companion shows now")
        if qr.identity_public != self.registration.identity_public:
            raise BadQr("the QR's identity key is not the one the companion registered", field="qr")

    def offer_qr_link(self, phone: Phone, qr: QrData, now: float) -> None:
        """The phone scanned this connection's QR: send pair-success, await the signature."""
        self.check_qr(qr, now)
        self._offer_link(phone, qr.adv_secret, now)

    def _offer_link(self, phone: Phone, adv_secret: bytes, now: float) -> None:
        assert self.registration is not None
        device_id, key_index = self.world.allocate_device(phone)
        self._offer = phone_side.offer_link(
            phone,
            companion_identity_public=self.registration.identity_public,
            adv_secret=adv_secret,
            device_id=device_id,
            key_index=key_index,
            now=int(now),
        )
        self.phone = phone
        self._offer_iq_id = self.next_id("ps")
        self._send(self._offer.pair_success.to_node(self._offer_iq_id))
        self.phase = Phase.AWAITING_SIGN

    def _complete_link(self, sign: stanzas.PairDeviceSign, now: float) -> None:
        assert self._offer is not None and self.phone is not None and self.registration
        offer, phone, reg = self._offer, self.phone, self.registration
        self._offer = None
        try:
            signed_identity = phone_side.accept_signature(phone, offer, sign)
        except LinkError as exc:
            self.events.append(LinkFailed(exc))
            self._send(stanzas.failure(stanzas.LOGGED_OUT))
            self._close(f"link refused: {exc}")
            return
        device = LinkedDevice(
            device_id=offer.device_id,
            noise_public=reg.noise_public,
            identity_public=reg.identity_public,
            registration_id=reg.registration_id,
            signed_pre_key=reg.signed_pre_key,
            key_index=offer.key_index,
            linked_at=int(now),
            platform=reg.platform,
            device_identity=signed_identity,
        )
        self.world.add_device(phone, device)
        self.device = device
        self.phase = Phase.LINKED
        self.events.append(
            LinkCompleted(
                phone.number,
                device.device_id,
                phone.jid(device.device_id),
                phone.lid_jid(device.device_id),
            )
        )
        # The companion must reconnect with a login payload (Baileys: restartRequired).
        self._send(stanzas.stream_error(stanzas.RESTART_REQUIRED))
        self._close("linked; restart required")

    # -- pairing code (protocol-map §3.2) -------------------------------------------------------
    def link_code_request(self, node: Node, now: float) -> None:
        """A ``link_code_companion_reg`` iq from the companion (hello or finish stage)."""
        stage = stanzas.link_code_stage(node)
        try:
            if stage == "companion_hello":
                self._code_hello_received(node)
            elif stage == "companion_finish":
                self._code_finish_received(node, now)
            else:
                self._send(stanzas.iq_error(node, 400, f"unknown link code stage {stage!r}"))
        except DecodeError as exc:
            self._send(stanzas.iq_error(node, 400, str(exc)))

    def _code_hello_received(self, node: Node) -> None:
        hello = stanzas.CompanionHello.from_node(node)
        if self.phase is not Phase.AWAITING_SCAN:
            self._send(stanzas.iq_error(node, 409, "not waiting to be linked"))
            return
        number = hello.jid.split("@", 1)[0]
        self.code_hello = hello
        self._code_ref = self._new_ref().encode()
        self._send(stanzas.companion_hello_result(node, self._code_ref))
        self.events.append(CodeRequested(number))

    def offer_code_link(
        self, phone: Phone, keys: pairing_code.PrimaryHelloKeys, now: float
    ) -> None:
        """The phone typed a code: send it the phone's half (``keys`` from ``primary_hello``).

        Whether the code was right is only known when companion_finish arrives (``LinkFailed``
        with ``WrongCode``, or on to pair-success).
        """
        if self.phase is Phase.AWAITING_SIGN or self._code_attempt is not None:
            raise LinkInProgress("this companion is already being linked")
        if self.phase is not Phase.AWAITING_SCAN or self.code_hello is None:
            raise NoPendingCompanion("the companion is no longer waiting for a pairing code")
        self._code_attempt = _CodeAttempt(phone, keys)
        hello = stanzas.PrimaryHello(
            ref=self._code_ref,
            primary_identity_public=phone.identity.public,
            wrapped_primary_ephemeral=keys.wrapped_primary_ephemeral,
        )
        self._send(hello.to_node(self.next_id("lc"), t=int(now)))

    def _code_finish_received(self, node: Node, now: float) -> None:
        finish = stanzas.CompanionFinish.from_node(node)
        attempt, self._code_attempt = self._code_attempt, None
        if attempt is None or finish.ref != self._code_ref:
            self._send(stanzas.iq_error(node, 404, "no pairing code exchange with this ref"))
            return
        assert self.registration is not None
        try:
            adv_secret = pairing_code.primary_finish(
                finish.wrapped_key_bundle,
                finish.identity_public,
                primary_identity=attempt.phone.identity,
                primary_ephemeral=attempt.keys.primary_ephemeral,
                companion_ephemeral_public=attempt.keys.companion_ephemeral_public,
            )
        except CryptoError:
            self._send(stanzas.iq_error(node, 401, "wrong pairing code"))
            self.events.append(LinkFailed(WrongCode("wrong pairing code", field="code")))
            return
        except PairingError as exc:
            self._send(stanzas.iq_error(node, 400, str(exc)))
            self.events.append(LinkFailed(CompanionGone(f"bad key bundle: {exc}")))
            return
        if finish.identity_public != self.registration.identity_public:
            self._send(stanzas.iq_error(node, 400, "identity differs from the registered one"))
            self.events.append(LinkFailed(CompanionGone("companion changed its identity key")))
            return
        self._send(stanzas.iq_result(node))
        self._offer_link(attempt.phone, adv_secret, now)

    def remove_device(self) -> None:
        """The phone unlinked this connection's device: tell it, then hang up."""
        self._send(stanzas.device_removed())
        self._close("device removed by the phone")

    def replaced(self) -> None:
        """Another connection logged in as this device: the newest one wins (Baileys: 440)."""
        self._send(stanzas.stream_error(None, conflict="replaced"))
        self._close("replaced by a newer connection of the same device")

    def stream_error(self, code: int) -> None:
        """An injected fault: end the stream with ``code`` like the real server would."""
        self._send(stanzas.stream_error(code))
        self._close(f"injected stream error {code}")

    def connection_lost(self) -> None:
        """The socket closed under us; a pending link can no longer complete."""
        self._abandon_link(CompanionGone("the companion disconnected before the link completed"))
        self.phase = Phase.CLOSED

    def _abandon_link(self, error: LinkError) -> None:
        if self._offer is not None or self._code_attempt is not None:
            self._offer = None
            self._code_attempt = None
            self.events.append(LinkFailed(error))

    # -- stanzas from the companion --------------------------------------------------------------
    def receive_node(self, node: Node, now: float) -> None:
        """One decoded stanza from the companion (``ProtocolError``: drop the connection)."""
        if self.phase in (Phase.NEW, Phase.CLOSED):
            return
        if self.phase is Phase.LOGGED_IN and node.tag in ("message", "receipt", "ack"):
            self._routed_stanza(node)
            return
        if node.tag != "iq":
            return  # presence, chatstate...: nothing the sandbox acts on
        type_ = node.attrs.get("type", "")
        if type_ in ("result", "error"):
            self._iq_answer(node, now)
        elif type_ in ("get", "set"):
            self._iq_request(node, now)

    def _routed_stanza(self, node: Node) -> None:
        """Messages and receipts go to the post office; they and acks answer our deliveries."""
        msg_id = node.attrs.get("id", "")
        if node.tag == "ack":
            if node.attrs.get("class") == "message":
                self._answered([msg_id])
            return  # acks are never routed
        if not msg_id:
            # nothing can acknowledge or refer to it: the client is broken, like one sending
            # undecodable frames, and only this connection pays for it (the adapter closes it)
            raise ProtocolError(f"<{node.tag}> without an id")
        if node.tag == "receipt":
            listed = node.child("list")
            extra = [i.attrs.get("id", "") for i in listed.iter("item")] if listed else []
            self._answered([msg_id, *extra])
        self.events.append(StanzaReceived(node))

    def _iq_answer(self, node: Node, now: float) -> None:
        if (
            self.phase is Phase.AWAITING_SIGN
            and node.attrs.get("id") == self._offer_iq_id
            and node.child("pair-device-sign") is not None
        ):
            try:
                sign = stanzas.PairDeviceSign.from_node(node)
            except DecodeError as exc:
                self._abandon_link(CompanionGone(f"bad pair-device-sign: {exc}"))
                self._close("bad pair-device-sign")
                return
            self._complete_link(sign, now)
        elif self.phase is Phase.AWAITING_SIGN and node.attrs.get("id") == self._offer_iq_id:
            self._abandon_link(CompanionGone("the companion rejected pair-success"))
            self._close("pair-success rejected")
        # anything else: answers to pair-device etc. need no action

    def _iq_request(self, node: Node, now: float) -> None:
        handled = iq_router.route(self, node, now)
        if handled is not None:
            self._send(handled)

    # -- hooks used by iq_router -----------------------------------------------------------------
    def logout(self) -> None:
        """The companion removed itself (``remove-companion-device``)."""
        if self.phone is not None and self.device is not None:
            jid = self.phone.jid(self.device.device_id)
            if self.device.device_id in self.phone.devices:
                self.world.remove_device(self.phone, self.device.device_id)
            self.events.append(LoggedOut(jid))
            self.device = None


def _platform_name(device_props: bytes) -> str:
    """``"Chrome (Mac OS)"`` from DeviceProps, for listings; empty if unreadable."""
    try:
        props = waproto.DeviceProps.FromString(device_props)
    except ProtobufDecodeError:
        return ""
    try:
        kind = waproto.DeviceProps.PlatformType.Name(props.platformType).title()
    except ValueError:
        kind = "Unknown"
    return f"{kind} ({props.os})" if props.os else kind
