"""Builders and parsers for the control stanzas of the linking and login flow.

Both ends of the protocol need the same shapes: the sandbox *sends* ``pair-device``,
``pair-success``, ``success`` and stream errors and *parses* ``pair-device-sign`` and pre-key
uploads; the client does the mirror image. Keeping each shape in one place (a function or a
dataclass with ``to_node``/``from_node``) means the two sides cannot drift apart.

Pure functions over :class:`Node`: no I/O, no clock (timestamps are passed in), no randomness
(ids are passed in). Parsers raise :class:`DecodeError` for a stanza that lacks a required part,
so a caller can treat a malformed stanza like any other bad input from the peer.
Shapes follow protocol-map §3, §4 (Baileys 7.0.0-rc.9 as the reference peer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from buzpo_nb.wa.binary.node import Node
from buzpo_nb.wa.errors import DecodeError

# The server's own address as it appears in ``from``/``to`` attributes (jid-utils S_WHATSAPP_NET;
# Baileys addresses the server as "@s.whatsapp.net", the server signs as "s.whatsapp.net").
SERVER = "s.whatsapp.net"
SERVER_ADDRESS = "@s.whatsapp.net"

# Disconnect codes a server puts in stream errors / failures (Baileys DisconnectReason).
LOGGED_OUT = 401
RESTART_REQUIRED = 515
SERVICE_UNAVAILABLE = 503

# Pre-key counts Baileys acts on (lib/Defaults INITIAL_PREKEY_COUNT / MIN_PREKEY_COUNT).
INITIAL_PREKEY_COUNT = 812
MIN_PREKEY_COUNT = 5


# -- small helpers ------------------------------------------------------------------------------
def _int_be(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def _be_int(data: bytes, what: str) -> int:
    if not data:
        raise DecodeError(f"{what}: empty integer")
    return int.from_bytes(data, "big")


def _required_child(node: Node, tag: str) -> Node:
    found = node.child(tag)
    if found is None:
        raise DecodeError(f"<{node.tag}> has no <{tag}> child")
    return found


def _required_bytes(node: Node, tag: str) -> bytes:
    return _required_child(node, tag).content_bytes()


def _optional_text(node: Node, tag: str) -> str:
    found = node.child(tag)
    return found.content_bytes().decode("utf-8", "replace") if found is not None else ""


def _bytes_node(tag: str, data: bytes | str) -> Node:
    return Node(tag, {}, data)


# -- iq -----------------------------------------------------------------------------------------
def iq(
    type_: str,
    id_: str,
    *,
    xmlns: str | None = None,
    to: str | None = None,
    from_: str | None = None,
    content: list[Node] | bytes | None = None,
) -> Node:
    """An ``<iq>`` with attributes in the order real peers use (order is cosmetic)."""
    attrs: dict[str, str] = {"id": id_, "type": type_}
    if to is not None:
        attrs["to"] = to
    if from_ is not None:
        attrs["from"] = from_
    if xmlns is not None:
        attrs["xmlns"] = xmlns
    return Node("iq", attrs, content)


def iq_result(request: Node, content: list[Node] | None = None, *, from_: str = SERVER) -> Node:
    """The success answer to ``request``: same id, ``type=result``.

    Baileys matches answers by id only, so this is all an iq needs to stop it waiting.
    """
    return iq("result", request.attrs.get("id", ""), from_=from_, content=content or None)


def iq_error(request: Node, code: int, text: str, *, from_: str = SERVER) -> Node:
    """An error answer: the ``<error>`` child is what makes a Baileys ``query`` throw."""
    err = Node("error", {"code": str(code), "text": text})
    return iq("error", request.attrs.get("id", ""), from_=from_, content=[err])


def iq_namespace(node: Node) -> tuple[str, str, str | None]:
    """``(xmlns, type, first child tag)``: the key servers route iqs on."""
    first = node.first_child()
    return node.attrs.get("xmlns", ""), node.attrs.get("type", ""), first.tag if first else None


def ping(id_: str) -> Node:
    """The client's keep-alive (``w:p``), sent every 30 s by Baileys."""
    return iq("get", id_, xmlns="w:p", to=SERVER_ADDRESS, content=[Node("ping")])


def count_result(request: Node, count: int) -> Node:
    """Answer to ``encrypt get <count/>``: how many one-time pre-keys the server holds."""
    return iq_result(request, [Node("count", {"value": str(count)})])


def digest_result(request: Node) -> Node:
    """Answer to ``encrypt get <digest/>``; Baileys only checks that a ``<digest>`` child exists."""
    return iq_result(request, [Node("digest")])


# -- stream control -----------------------------------------------------------------------------
def stream_error(code: int | None = None, *, conflict: str | None = None) -> Node:
    """``<stream:error code=N>`` — the server's way to end a session with a reason.

    ``conflict="device_removed"`` with code 401 is a logout; ``conflict="replaced"`` is 440.
    """
    attrs = {"code": str(code)} if code is not None else {}
    content = [Node("conflict", {"type": conflict})] if conflict else None
    return Node("stream:error", attrs, content)


def device_removed() -> Node:
    """What a linked device receives when the phone unlinks it (Baileys: loggedOut)."""
    return stream_error(LOGGED_OUT, conflict="device_removed")


def failure(reason: int, *, location: str | None = None) -> Node:
    """Login refused (``reason=401``: unknown or removed device)."""
    attrs = {"reason": str(reason)}
    if location is not None:
        attrs["location"] = location
    return Node("failure", attrs)


def success(*, t: int, lid: str | None, extra: dict[str, str] | None = None) -> Node:
    """Login accepted. Always pass ``lid``: Baileys overwrites ``me.lid`` with this attribute."""
    attrs = {"t": str(t)}
    if lid is not None:
        attrs["lid"] = lid
    attrs.update(extra or {})
    return Node("success", attrs)


def offline_done(count: int = 0) -> Node:
    """``<ib><offline count/></ib>``: end of the offline queue; flushes the event buffer."""
    return Node("ib", {"from": SERVER}, [Node("offline", {"count": str(count)})])


# -- QR pairing ---------------------------------------------------------------------------------
def pair_device(id_: str, refs: list[str]) -> Node:
    """Server → companion: the refs that become QR codes (content sent as raw bytes)."""
    children = [_bytes_node("ref", ref.encode()) for ref in refs]
    return iq("set", id_, xmlns="md", from_=SERVER, content=[Node("pair-device", {}, children)])


def parse_pair_device(node: Node) -> list[str]:
    """Refs offered by the server, in order."""
    pd = _required_child(node, "pair-device")
    refs = [ref.content_bytes().decode("utf-8", "replace") for ref in pd.iter("ref")]
    if not refs:
        raise DecodeError("<pair-device> carries no <ref>")
    return refs


@dataclass(slots=True)
class PairSuccess:
    """Server → companion after the phone accepted the link (protocol-map §3.1 step 6)."""

    device_identity: bytes  # ADVSignedDeviceIdentityHMAC
    jid: str  # "15550001111:7@s.whatsapp.net"
    lid: str | None = None  # "123456789012345:7@lid"
    platform: str | None = "android"
    biz_name: str | None = None

    def to_node(self, id_: str) -> Node:
        device_attrs = {"jid": self.jid}
        if self.lid is not None:
            device_attrs["lid"] = self.lid
        children = [_bytes_node("device-identity", self.device_identity)]
        if self.platform is not None:
            children.append(Node("platform", {"name": self.platform}))
        children.append(Node("device", device_attrs))
        if self.biz_name is not None:
            children.append(Node("biz", {"name": self.biz_name}))
        return iq(
            "set", id_, xmlns="md", from_=SERVER, content=[Node("pair-success", {}, children)]
        )

    @classmethod
    def from_node(cls, node: Node) -> PairSuccess:
        ps = _required_child(node, "pair-success")
        device = _required_child(ps, "device")
        jid = device.attrs.get("jid")
        if not jid:
            raise DecodeError("<pair-success><device> has no jid")
        platform = ps.child("platform")
        biz = ps.child("biz")
        return cls(
            device_identity=_required_bytes(ps, "device-identity"),
            jid=jid,
            lid=device.attrs.get("lid"),
            platform=platform.attrs.get("name") if platform else None,
            biz_name=biz.attrs.get("name") if biz else None,
        )


@dataclass(slots=True)
class PairDeviceSign:
    """Companion → server: the device-signed identity that completes a link (§3.1 step 9)."""

    key_index: int
    device_identity: bytes  # ADVSignedDeviceIdentity without accountSignatureKey

    def to_node(self, id_: str) -> Node:
        ident = Node("device-identity", {"key-index": str(self.key_index)}, self.device_identity)
        return iq("result", id_, to=SERVER_ADDRESS, content=[Node("pair-device-sign", {}, [ident])])

    @classmethod
    def from_node(cls, node: Node) -> PairDeviceSign:
        sign = _required_child(node, "pair-device-sign")
        ident = _required_child(sign, "device-identity")
        try:
            key_index = int(ident.attrs.get("key-index", ""))
        except ValueError as exc:
            raise DecodeError("<device-identity> has no numeric key-index") from exc
        return cls(key_index=key_index, device_identity=ident.content_bytes())


# -- pre-keys -----------------------------------------------------------------------------------
@dataclass(slots=True)
class UploadedSignedPreKey:
    """``<skey>``: a signed pre-key as uploaded (also the content of ``encrypt set <rotate>``)."""

    key_id: int
    public: bytes  # 32 bytes, no 0x05
    signature: bytes  # 64 bytes

    def to_node(self) -> Node:
        return Node(
            "skey",
            {},
            [
                _bytes_node("id", _int_be(self.key_id, 3)),
                _bytes_node("value", self.public),
                _bytes_node("signature", self.signature),
            ],
        )

    @classmethod
    def from_node(cls, skey: Node) -> UploadedSignedPreKey:
        return cls(
            key_id=_be_int(_required_bytes(skey, "id"), "skey id"),
            public=_required_bytes(skey, "value"),
            signature=_required_bytes(skey, "signature"),
        )


@dataclass(slots=True)
class PreKeyUpload:
    """``iq xmlns=encrypt type=set``: a device's key bundle (§4.1 step 2).

    The server keeps it to hand out pre-key bundles to senders; the client builds it after a
    ``count`` at or below the refill threshold.
    """

    registration_id: int
    identity: bytes  # 32 bytes
    pre_keys: dict[int, bytes] = field(default_factory=dict)  # key id -> 32-byte public
    signed_pre_key: UploadedSignedPreKey | None = None
    key_type: int = 5  # Signal DJB type byte

    def to_node(self, id_: str) -> Node:
        keys = [
            Node("key", {}, [_bytes_node("id", _int_be(kid, 3)), _bytes_node("value", pub)])
            for kid, pub in self.pre_keys.items()
        ]
        children = [
            _bytes_node("registration", _int_be(self.registration_id, 4)),
            _bytes_node("type", bytes([self.key_type])),
            _bytes_node("identity", self.identity),
            Node("list", {}, keys),
        ]
        if self.signed_pre_key is not None:
            children.append(self.signed_pre_key.to_node())
        return iq("set", id_, xmlns="encrypt", to=SERVER_ADDRESS, content=children)

    @classmethod
    def from_node(cls, node: Node) -> PreKeyUpload:
        type_bytes = _required_bytes(node, "type")
        pre_keys: dict[int, bytes] = {}
        for key in _required_child(node, "list").iter("key"):
            pre_keys[_be_int(_required_bytes(key, "id"), "key id")] = _required_bytes(key, "value")
        skey_node = node.child("skey")
        spk = UploadedSignedPreKey.from_node(skey_node) if skey_node is not None else None
        return cls(
            registration_id=_be_int(_required_bytes(node, "registration"), "registration"),
            identity=_required_bytes(node, "identity"),
            pre_keys=pre_keys,
            signed_pre_key=spk,
            key_type=type_bytes[0] if type_bytes else 5,
        )


# -- pairing code (§3.2) ------------------------------------------------------------------------
LINK_CODE_TAG = "link_code_companion_reg"


@dataclass(slots=True)
class CompanionHello:
    """Companion → server: "I show pairing code X for phone J" (stage ``companion_hello``)."""

    jid: str  # the phone's user jid, "15551234567@s.whatsapp.net"
    wrapped_ephemeral: bytes  # salt32 || iv16 || AES-CTR(PBKDF2(code), companion ephemeral pub)
    noise_public: bytes  # companion_server_auth_key_pub (= the handshake static key)
    platform_id: str = "1"
    platform_display: str = "Chrome (Mac OS)"

    def to_node(self, id_: str) -> Node:
        reg = Node(
            LINK_CODE_TAG,
            {"jid": self.jid, "stage": "companion_hello", "should_show_push_notification": "true"},
            [
                _bytes_node(
                    "link_code_pairing_wrapped_companion_ephemeral_pub", self.wrapped_ephemeral
                ),
                _bytes_node("companion_server_auth_key_pub", self.noise_public),
                _bytes_node("companion_platform_id", self.platform_id),
                _bytes_node("companion_platform_display", self.platform_display),
                _bytes_node("link_code_pairing_nonce", "0"),
            ],
        )
        return iq("set", id_, xmlns="md", to=SERVER_ADDRESS, content=[reg])

    @classmethod
    def from_node(cls, node: Node) -> CompanionHello:
        reg = _required_child(node, LINK_CODE_TAG)
        return cls(
            jid=reg.attrs.get("jid", ""),
            wrapped_ephemeral=_required_bytes(
                reg, "link_code_pairing_wrapped_companion_ephemeral_pub"
            ),
            noise_public=_required_bytes(reg, "companion_server_auth_key_pub"),
            platform_id=_optional_text(reg, "companion_platform_id"),
            platform_display=_optional_text(reg, "companion_platform_display"),
        )


def companion_hello_result(request: Node, ref: bytes) -> Node:
    """Server's answer to a hello: the pairing ref the later stages refer to."""
    reg = Node(LINK_CODE_TAG, {}, [_bytes_node("link_code_pairing_ref", ref)])
    return iq_result(request, [reg])


@dataclass(slots=True)
class PrimaryHello:
    """Phone (via server) → companion: the phone's half of the code exchange (a notification)."""

    ref: bytes
    primary_identity_public: bytes  # 32 bytes
    wrapped_primary_ephemeral: bytes  # salt32 || iv16 || AES-CTR(PBKDF2(code), primary eph pub)

    def to_node(self, id_: str, *, t: int) -> Node:
        reg = Node(
            LINK_CODE_TAG,
            {},
            [
                _bytes_node("link_code_pairing_ref", self.ref),
                _bytes_node("primary_identity_pub", self.primary_identity_public),
                _bytes_node(
                    "link_code_pairing_wrapped_primary_ephemeral_pub",
                    self.wrapped_primary_ephemeral,
                ),
            ],
        )
        attrs = {"from": SERVER, "id": id_, "type": LINK_CODE_TAG, "t": str(t)}
        return Node("notification", attrs, [reg])

    @classmethod
    def from_node(cls, node: Node) -> PrimaryHello:
        reg = _required_child(node, LINK_CODE_TAG)
        return cls(
            ref=_required_bytes(reg, "link_code_pairing_ref"),
            primary_identity_public=_required_bytes(reg, "primary_identity_pub"),
            wrapped_primary_ephemeral=_required_bytes(
                reg, "link_code_pairing_wrapped_primary_ephemeral_pub"
            ),
        )


@dataclass(slots=True)
class CompanionFinish:
    """Companion → server: the key bundle sealed with the code-derived key (stage finish)."""

    jid: str
    wrapped_key_bundle: bytes  # salt32 || iv12 || AES-GCM(...)
    identity_public: bytes  # companion identity pub, 32 bytes
    ref: bytes

    def to_node(self, id_: str) -> Node:
        reg = Node(
            LINK_CODE_TAG,
            {"jid": self.jid, "stage": "companion_finish"},
            [
                _bytes_node("link_code_pairing_wrapped_key_bundle", self.wrapped_key_bundle),
                _bytes_node("companion_identity_public", self.identity_public),
                _bytes_node("link_code_pairing_ref", self.ref),
            ],
        )
        return iq("set", id_, xmlns="md", to=SERVER_ADDRESS, content=[reg])

    @classmethod
    def from_node(cls, node: Node) -> CompanionFinish:
        reg = _required_child(node, LINK_CODE_TAG)
        return cls(
            jid=reg.attrs.get("jid", ""),
            wrapped_key_bundle=_required_bytes(reg, "link_code_pairing_wrapped_key_bundle"),
            identity_public=_required_bytes(reg, "companion_identity_public"),
            ref=_required_bytes(reg, "link_code_pairing_ref"),
        )


def link_code_stage(node: Node) -> str | None:
    """``companion_hello`` / ``companion_finish`` for a link-code iq, else None."""
    reg = node.child(LINK_CODE_TAG)
    return reg.attrs.get("stage") if reg is not None else None
