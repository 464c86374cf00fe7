"""Fuzz targets shared by the bounded hypothesis tests (tests/fuzz) and ``bench/fuzz.py``.

Every place where bytes from the network (or from a file another program wrote) meet Buzpo's
decoders is one :class:`Target`: valid seeds to mutate from, and a ``run(data)`` that feeds the
decoder exactly as Buzpo's own receive path does. The contract checked everywhere: ``run`` either
returns or raises a :class:`~buzpo_nb.wa.errors.BuzpoError` (the typed errors the callers
catch); anything else (``IndexError``, ``RecursionError``, ``ValueError`` from a library...) is a
bug. Keys are fixed so a reproducer replays the same way in another process.

The mutator is here too so the hypothesis tests and the long runner use the same edits.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from buzpo_nb.sandbox.device_session import DeviceSession
from buzpo_nb.sandbox.world import World
from buzpo_nb.wa import group_node, prekey_bundle, receipt_node, stanzas, usync
from buzpo_nb.wa.addressing import sender_key_name, signal_address
from buzpo_nb.wa.binary import Node, decode_node, encode_node
from buzpo_nb.wa.cert import check_cert_chain, make_cert_chain
from buzpo_nb.wa.client_payload import login_payload, registration_payload
from buzpo_nb.wa.creds import AuthCreds, init_auth_creds
from buzpo_nb.wa.errors import BuzpoError
from buzpo_nb.wa.frames import FrameDecoder, encode_frame, encode_intro
from buzpo_nb.wa.jid import Jid
from buzpo_nb.wa.keys import KeyPair, signed_pre_key
from buzpo_nb.wa.media_crypto import MediaDecryptor, decrypt_media, encrypt_media
from buzpo_nb.wa.media_message import media_info, parse_media_conn
from buzpo_nb.wa.media_retry import MediaRetryPayload, decrypt_media_retry, encrypt_media_retry
from buzpo_nb.wa.message_content import (
    decode_plaintext,
    encode_plaintext,
    media_type,
    message_text,
    text_message,
    unwrap_device_sent,
)
from buzpo_nb.wa.message_node import parse_message
from buzpo_nb.wa.noise import NoiseClient, NoiseServer
from buzpo_nb.wa.pairing import (
    SignedDeviceIdentity,
    adv_hmac,
    build_device_identity_hmac,
    make_qr_string,
    parse_qr_string,
    verify_pair_success,
)
from buzpo_nb.wa.proto import wa_pb2 as waproto
from buzpo_nb.wa.signal import (
    LocalIdentity,
    PreKeyBundle,
    SenderKeyRecord,
    SessionRecord,
    create_sender_key_distribution,
    decrypt_message,
    decrypt_prekey_message,
    encrypt,
    group_decrypt,
    group_encrypt,
    initiate_session,
    pad_random_max16,
    process_sender_key_distribution,
    unpad_random_max16,
)
from buzpo_nb.wa.signal.wire import PreKeyWhisperMessage

ALLOWED = BuzpoError
"""The only exception family a decoder may raise at its caller for bad input."""

NOW_MS = 1_700_000_000_000


@dataclass(frozen=True)
class Target:
    """One decoder entry point: mutate ``seeds``, call ``run``; ``weight`` scales its share."""

    name: str
    seeds: tuple[bytes, ...]
    run: Callable[[bytes], object]
    weight: float = 1.0


def _kp(n: int) -> KeyPair:
    return KeyPair.from_private(bytes([n]) * 32)


# --- frames and Noise ------------------------------------------------------------------------


def _run_frames(data: bytes) -> None:
    """Both roles, the stream split in two at a data-dependent point."""
    cut = data[0] % (len(data) + 1) if data else 0
    for expect_intro in (True, False):
        decoder = FrameDecoder(expect_intro=expect_intro)
        try:
            decoder.receive_data(data[:cut])
            decoder.receive_data(data[cut:])
        finally:
            decoder.frames()


_SERVER_STATIC, _SERVER_EPH, _CLIENT_NOISE, _CLIENT_EPH = _kp(1), _kp(2), _kp(3), _kp(4)


@cache
def _cert_chain() -> bytes:
    return make_cert_chain(_SERVER_STATIC.public)


def _new_server() -> NoiseServer:
    return NoiseServer(_SERVER_STATIC, _cert_chain(), ephemeral=_SERVER_EPH)


def _new_client() -> NoiseClient:
    return NoiseClient(_CLIENT_NOISE, ephemeral=_CLIENT_EPH)


@cache
def _noise_streams() -> tuple[bytes, bytes, bytes, bytes]:
    """(client hello stream, server hello stream, client finish, server transport frames)."""
    client, server = _new_client(), _new_server()
    client.start()
    hello = client.data_to_send()
    server.receive_data(hello)
    server_hello = server.data_to_send()
    client.receive_data(server_hello)
    client.events_received()
    client.finish(registration_payload(_creds()))
    finish = client.data_to_send()
    server.receive_data(finish)
    for payload in _node_seeds()[:4]:
        server.send(payload)
    return hello, server_hello, finish, server.data_to_send()


def _run_noise_server(data: bytes) -> None:
    """The sandbox's side: intro + ClientHello + ClientFinish (+ frames) from a companion."""
    server = _new_server()
    server.receive_data(data)
    for event in server.events_received():
        payload = getattr(event, "client_payload", None)
        if payload is not None:
            DeviceSession(World()).handshake_complete(event.client_static, payload, 1.0)


def _run_noise_client(data: bytes) -> None:
    """The companion's side: ServerHello (cert chain) and then whatever follows."""
    client = _new_client()
    client.start()
    client.receive_data(data)


def _run_noise_transport(data: bytes) -> None:
    """An established client reading transport frames, each payload decoded as a node."""
    client = _new_client()
    client.start()
    _hello, server_hello, _finish, _frames = _noise_streams()
    client.receive_data(server_hello)
    client.events_received()
    client.finish(b"payload")
    try:
        client.receive_data(data)
    finally:
        for event in client.events_received():
            decode_node(event.data)


# --- binary nodes and the stanza parsers ----------------------------------------------------

_ME = Jid.parse("15550000001:3@s.whatsapp.net")
_ME_LID = Jid.parse("123456789:3@lid")


@cache
def _nodes() -> tuple[Node, ...]:
    devices = [Node("device", {"id": "0"}), Node("device", {"id": "3", "key-index": "1"})]
    return (
        Node(
            "message",
            {
                "from": "15550000002@s.whatsapp.net",
                "id": "3EB0C431C26A1916E1B4F8",
                "type": "text",
                "t": "1732700000",
                "notify": "Friend",
            },
            [Node("enc", {"v": "2", "type": "pkmsg", "count": "1"}, bytes(range(64)))],
        ),
        Node(
            "message",
            {
                "from": "120363000000000000@g.us",
                "participant": "15550000002:1@s.whatsapp.net",
                "id": "ABCD",
                "t": "1",
                "addressing_mode": "pn",
            },
            [Node("enc", {"v": "2", "type": "skmsg"}, b"\x33" * 40)],
        ),
        Node(
            "receipt",
            {"from": "15550000002@s.whatsapp.net", "id": "X1", "type": "retry", "t": "5"},
            [
                Node("retry", {"count": "2", "id": "X1", "t": "5", "v": "1"}),
                Node("registration", {}, b"\x00\x00\x04\xd2"),
                Node("list", {}, [Node("item", {"id": "X2"}), Node("item", {"id": "X3"})]),
            ],
        ),
        Node(
            "iq",
            {"from": "@s.whatsapp.net", "id": "1.2-3", "type": "result"},
            [
                Node(
                    "usync",
                    {"sid": "5", "index": "0", "last": "true"},
                    [
                        Node(
                            "list",
                            {},
                            [
                                Node(
                                    "user",
                                    {"jid": "15550000002@s.whatsapp.net"},
                                    [
                                        Node("devices", {}, [Node("device-list", {}, devices)]),
                                        Node("lid", {"val": "987654321@lid"}),
                                    ],
                                )
                            ],
                        )
                    ],
                )
            ],
        ),
        Node(
            "iq",
            {"from": "120363000000000000@g.us", "id": "g1", "type": "result"},
            [
                Node(
                    "group",
                    {"id": "120363000000000000", "subject": "Team", "creation": "1700000000"},
                    [
                        Node("participant", {"jid": "15550000002@s.whatsapp.net", "type": "admin"}),
                        Node("participant", {"jid": "15550000001@s.whatsapp.net"}),
                        Node("ephemeral", {"expiration": "86400"}),
                    ],
                )
            ],
        ),
        Node(
            "iq",
            {"from": "@s.whatsapp.net", "id": "k1", "type": "result"},
            [
                Node(
                    "list",
                    {},
                    [
                        Node(
                            "user",
                            {"jid": "15550000002@s.whatsapp.net"},
                            [
                                Node("registration", {}, b"\x00\x00\x04\xd2"),
                                Node("type", {}, b"\x05"),
                                Node("identity", {}, b"\x11" * 32),
                                Node(
                                    "skey",
                                    {},
                                    [
                                        Node("id", {}, b"\x00\x00\x07"),
                                        Node("value", {}, b"\x22" * 32),
                                        Node("signature", {}, b"\x33" * 64),
                                    ],
                                ),
                                Node(
                                    "key",
                                    {},
                                    [
                                        Node("id", {}, b"\x00\x00\x01"),
                                        Node("value", {}, b"\x44" * 32),
                                    ],
                                ),
                            ],
                        )
                    ],
                )
            ],
        ),
        Node(
            "iq",
            {"from": "@s.whatsapp.net", "id": "m1", "type": "result"},
            [
                Node(
                    "media_conn",
                    {"auth": "AUTH", "ttl": "300"},
                    [Node("host", {"hostname": "mmg.whatsapp.net", "maxContentLengthBytes": "9"})],
                )
            ],
        ),
        stanzas.pair_device("pd1", ["2@abc", "2@def"]),
        Node("success", {"t": "1700000000", "lid": "123456789:3@lid"}),
    )


@cache
def _node_seeds() -> tuple[bytes, ...]:
    return tuple(encode_node(n) for n in _nodes())


def _message_and_addresses(node: Node) -> None:
    """``parse_message`` and the Signal names the client derives from it (they become file
    names in the auth folder)."""
    message = parse_message(node, me=_ME, me_lid=_ME_LID)
    signal_address(message.author)
    if message.is_group:
        sender_key_name(message.chat, message.author)


_NODE_PARSERS: tuple[Callable[[Node], object], ...] = (
    _message_and_addresses,
    lambda n: receipt_node.parse_receipt(n, me=_ME, me_lid=_ME_LID),
    usync.parse_result,
    group_node.parse_metadata,
    prekey_bundle.parse_bundles,
    prekey_bundle.bundle_from_retry,
    lambda n: parse_media_conn(n, 0.0),
    stanzas.parse_pair_device,
    stanzas.PairSuccess.from_node,
    stanzas.PairDeviceSign.from_node,
    stanzas.PreKeyUpload.from_node,
    stanzas.CompanionHello.from_node,
    stanzas.PrimaryHello.from_node,
    stanzas.CompanionFinish.from_node,
    stanzas.link_code_stage,
    stanzas.iq_namespace,
)


def run_node_parsers(node: Node) -> None:
    """Every stanza parser on ``node``; each may refuse it, but only with a typed error."""
    for parse in _NODE_PARSERS:
        with contextlib.suppress(ALLOWED):
            parse(node)


def _run_binary(data: bytes) -> None:
    run_node_parsers(decode_node(data))


# --- protobuf messages, client payload, ADV identity, QR, cert chain -------------------------


@cache
def _creds() -> AuthCreds:
    return init_auth_creds(
        noise_key=_kp(5),
        pairing_ephemeral_key_pair=_kp(6),
        signed_identity_key=_kp(7),
        signed_pre_key_pair=_kp(8),
        registration_id=1234,
    )


@cache
def _message_seeds() -> tuple[bytes, ...]:
    image = waproto.Message()
    image.imageMessage.url = "https://mmg.whatsapp.net/x"
    image.imageMessage.mediaKey = b"\x01" * 32
    image.imageMessage.caption = "cap"
    image.imageMessage.fileLength = 10
    dsm = waproto.Message()
    dsm.deviceSentMessage.destinationJid = "15550000002@s.whatsapp.net"
    dsm.deviceSentMessage.message.conversation = "hi"
    return tuple(
        encode_plaintext(m, random_byte=3) for m in (text_message("Hello *world*"), image, dsm)
    )


def _run_message(data: bytes) -> None:
    message = decode_plaintext(data)
    inner, _dest = unwrap_device_sent(message)
    message_text(inner)
    media_type(inner)
    media_info(inner)


def _run_client_payload(data: bytes) -> None:
    """The sandbox judging the ClientPayload of a finished handshake."""
    DeviceSession(World()).handshake_complete(b"\x01" * 32, data, 1.0)


_ADV_SECRET = b"\x09" * 32


@cache
def _adv_seeds() -> tuple[bytes, ...]:
    wrapper = build_device_identity_hmac(
        _kp(10),
        _creds().signed_identity_key.public,
        _ADV_SECRET,
        7,
        1,
        1_700_000_000,
        nonce=b"\x00" * 64,
    )
    return (wrapper, waproto.ADVSignedDeviceIdentityHMAC.FromString(wrapper).details)


def _run_adv(data: bytes) -> None:
    """pair-success's device-identity as is, and re-MACed so the mutation reaches the inside."""
    identity = _creds().signed_identity_key
    with contextlib.suppress(ALLOWED):
        verify_pair_success(data, _ADV_SECRET, identity)
    wrapper = waproto.ADVSignedDeviceIdentityHMAC(
        details=data, hmac=adv_hmac(_ADV_SECRET, data, hosted_account=False)
    )
    with contextlib.suppress(ALLOWED):
        SignedDeviceIdentity.decode(data).identity  # noqa: B018 - decoding is the point
    verify_pair_success(wrapper.SerializeToString(), _ADV_SECRET, identity)


def _run_cert_chain(data: bytes) -> None:
    check_cert_chain(data)


def _run_qr(data: bytes) -> None:
    parse_qr_string(data.decode("utf-8", "replace"))


# --- Signal ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SignalWorld:
    alice: LocalIdentity
    bob: LocalIdentity
    bob_signed: KeyPair
    bob_pre_key: KeyPair
    alice_record: SessionRecord
    pkmsgs: tuple[bytes, ...]
    msgs: tuple[bytes, ...]
    group_record: SenderKeyRecord
    skmsgs: tuple[bytes, ...]
    skdm: bytes


@cache
def _signal() -> _SignalWorld:
    alice, bob = LocalIdentity(_kp(20), 1111), LocalIdentity(_kp(21), 2222)
    signed = signed_pre_key(bob.identity, 7)
    pre_key = _kp(22)
    bundle = PreKeyBundle(
        registration_id=bob.registration_id,
        identity_key=bob.identity.public,
        signed_pre_key_id=7,
        signed_pre_key_public=signed.key_pair.public,
        signed_pre_key_signature=signed.signature,
        pre_key_id=1,
        pre_key_public=pre_key.public,
    )
    record = initiate_session(None, bundle, local=alice, now_ms=NOW_MS, base_key=_kp(23))
    pkmsgs = []
    for i in range(2):
        r = encrypt(record, pad_random_max16(b"hello %d" % i, random_byte=1), local=alice)
        record, _ = r.record, pkmsgs.append(r.ciphertext)
    alice_record = record
    bob_record = decrypt_prekey_message(
        None,
        pkmsgs[0],
        local=bob,
        signed_pre_key=signed.key_pair,
        pre_key=pre_key,
        now_ms=NOW_MS,
    ).record
    msgs = []
    for i in range(3):
        r = encrypt(bob_record, pad_random_max16(b"reply %d" % i, random_byte=2), local=bob)
        bob_record, _ = r.record, msgs.append(r.ciphertext)
    dist = create_sender_key_distribution(
        None, key_id=42, chain_key=b"\x05" * 32, signing_key=_kp(24)
    )
    sender = dist.record
    skmsgs = []
    for i in range(3):
        g = group_encrypt(
            sender, pad_random_max16(b"group %d" % i, random_byte=1), nonce=b"\0" * 64
        )
        sender, _ = g.record, skmsgs.append(g.ciphertext)
    group_record = process_sender_key_distribution(None, dist.message)
    return _SignalWorld(
        alice,
        bob,
        signed.key_pair,
        pre_key,
        alice_record,
        tuple(pkmsgs),
        tuple(msgs),
        group_record,
        tuple(skmsgs),
        dist.message,
    )


def _run_whisper(data: bytes) -> None:
    w = _signal()
    result = decrypt_message(w.alice_record, data, local=w.alice, now_ms=NOW_MS)
    unpad_random_max16(result.plaintext)


def _run_prekey_whisper(data: bytes) -> None:
    w = _signal()
    PreKeyWhisperMessage.parse(data)
    result = decrypt_prekey_message(
        None, data, local=w.bob, signed_pre_key=w.bob_signed, pre_key=w.bob_pre_key, now_ms=NOW_MS
    )
    unpad_random_max16(result.plaintext)


def _run_sender_key(data: bytes) -> None:
    w = _signal()
    result = group_decrypt(w.group_record, data)
    unpad_random_max16(result.plaintext)


def _run_skdm(data: bytes) -> None:
    w = _signal()
    record = process_sender_key_distribution(None, data)
    for skmsg in w.skmsgs[:1]:
        with contextlib.suppress(ALLOWED):
            group_decrypt(record, skmsg)
    SenderKeyRecord.deserialize(record.serialize())


@cache
def _record_seeds() -> tuple[bytes, ...]:
    w = _signal()
    return (
        w.alice_record.to_json().encode(),
        w.group_record.serialize(),
        _creds().to_json().encode(),
        b'{"version": "v1", "_sessions": {}}',
    )


def _run_records(data: bytes) -> None:
    """The JSON files in an auth folder: session, sender-key and creds records."""
    for load in (SessionRecord.from_json, SenderKeyRecord.deserialize, AuthCreds.from_json):
        with contextlib.suppress(ALLOWED):
            load(data)


# --- media -----------------------------------------------------------------------------------

_MEDIA_KEY = b"\x07" * 32


@cache
def _media_seeds() -> tuple[bytes, ...]:
    return tuple(encrypt_media(b"x" * n, "image", _MEDIA_KEY).blob for n in (0, 15, 16, 100))


def _run_media(data: bytes) -> None:
    with contextlib.suppress(ALLOWED):
        decrypt_media(data, _MEDIA_KEY, "image")
    decryptor = MediaDecryptor(_MEDIA_KEY, "image")
    half = len(data) // 2
    decryptor.update(data[:half])
    decryptor.update(data[half:])
    decryptor.finalize()


@cache
def _retry_seeds() -> tuple[bytes, ...]:
    sealed = encrypt_media_retry(b"\x08\x01", _MEDIA_KEY, "MSGID", iv=b"\x01" * 12)
    return (sealed.iv + sealed.ciphertext,)


def _run_media_retry(data: bytes) -> None:
    decrypt_media_retry(MediaRetryPayload(data[12:], data[:12]), _MEDIA_KEY, "MSGID")


# --- the table --------------------------------------------------------------------------------


@cache
def targets() -> tuple[Target, ...]:
    """All targets, seeds built (deterministically) on first use."""
    hello, server_hello, finish, frames = _noise_streams()
    w = _signal()
    return (
        Target(
            "frames",
            (encode_intro(b"route") + encode_frame(b"abc") + encode_frame(b""), hello + finish),
            _run_frames,
            weight=2,
        ),
        Target("noise_server", (hello + finish, hello), _run_noise_server),
        Target("noise_client", (server_hello, server_hello + frames), _run_noise_client),
        Target("noise_transport", (frames,), _run_noise_transport),
        Target("binary_node", _node_seeds(), _run_binary, weight=3),
        Target("message_proto", _message_seeds(), _run_message, weight=2),
        Target(
            "client_payload",
            (registration_payload(_creds()), login_payload("15550000001:3@s.whatsapp.net")),
            _run_client_payload,
        ),
        Target("adv_identity", _adv_seeds(), _run_adv),
        Target("cert_chain", (_cert_chain(),), _run_cert_chain),
        Target(
            "qr_string",
            (make_qr_string("2@ref", b"\x01" * 32, b"\x02" * 32, b"\x03" * 32).encode(),),
            _run_qr,
        ),
        Target("whisper_message", w.msgs, _run_whisper),
        Target("prekey_whisper_message", w.pkmsgs, _run_prekey_whisper, weight=0.5),
        Target("sender_key_message", w.skmsgs, _run_sender_key),
        Target("sender_key_distribution", (w.skdm,), _run_skdm),
        Target("signal_records_json", _record_seeds(), _run_records),
        Target("media_decrypt", _media_seeds(), _run_media),
        Target("media_retry", _retry_seeds(), _run_media_retry),
    )


def target(name: str) -> Target:
    return next(t for t in targets() if t.name == name)


# --- mutation --------------------------------------------------------------------------------

_INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xEC, 0xED)
_INTERESTING_WIDE = (
    b"\xff\xff\xff",
    b"\x00\x00\x00",
    b"\x7f\xff\xff\xff",
    b"\xff\xff\xff\xff\x0f",  # a huge protobuf varint
    b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # an overlong varint
    b"\x0a\xff\xff\xff\xff\x07",  # field 1, length-delimited, claiming 2 GiB
    b"\xfc\xff\xff\xff",  # BINARY_32 claiming 4 GiB
    b"\xf8\xff",  # LIST_8 of 255
    b"\xf9\xff\xff",  # LIST_16 of 65535
    b"[[[[[[[[",
    b'{"a":',
    b"\x00\x01",
)


_NESTING = (b"[", b'{"a":', b"\x0b", b"\x0a\x00", b"\xf8\x02\x01", b"\xfa", b"\xf7")
"""Openers of nested structures: JSON, protobuf groups/fields, binary lists and JIDs."""


def mutate(data: bytes, rng: random.Random, seeds: tuple[bytes, ...] = ()) -> bytes:
    """One to four random edits of ``data``: the classic byte-level mutations of AFL-style
    fuzzers plus splicing with another seed and a few values that stress length fields."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(11)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip a bit
            i = min(pos, len(buf) - 1)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:  # interesting byte
            buf[min(pos, len(buf) - 1)] = rng.choice(_INTERESTING)
        elif op == 2 and buf:  # random byte
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 3:  # insert random bytes
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 4 and buf:  # delete a range
            del buf[pos : pos + rng.randint(1, 16)]
        elif op == 5 and buf:  # duplicate a range
            start = rng.randrange(len(buf))
            chunk = buf[start : start + rng.randint(1, 32)]
            buf[pos:pos] = chunk * rng.randint(1, 4)
        elif op == 6:  # truncate
            del buf[pos:]
        elif op == 7:  # overwrite with a length-ish value
            wide = rng.choice(_INTERESTING_WIDE)
            buf[pos : pos + len(wide)] = wide
        elif op == 8 and seeds:  # splice with another seed
            other = rng.choice(seeds)
            cut = rng.randrange(len(other) + 1)
            buf[pos:] = other[cut:]
        elif op == 9:  # insert an interesting wide value
            buf[pos:pos] = rng.choice(_INTERESTING_WIDE)
        else:  # deep nesting: one opener repeated past every recursion limit
            buf[pos:pos] = rng.choice(_NESTING) * rng.choice((100, 1_000, 5_000))
    return bytes(buf)


def check(t: Target, data: bytes) -> None:
    """Run ``t`` on ``data``; let only non-typed exceptions through (they are findings)."""
    with contextlib.suppress(ALLOWED):
        t.run(data)


def reproducer(name: str, data: bytes) -> str:
    """A JSON line that ``bench/fuzz.py --replay`` (and a test) can run again."""
    return json.dumps({"target": name, "hex": data.hex()})
