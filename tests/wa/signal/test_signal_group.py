"""Sender keys: distribution, encryption, any delivery order, limits, and Baileys' record JSON."""

from __future__ import annotations

import base64
import hmac
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.signal import (
    DuplicateMessage,
    InvalidSignature,
    MalformedMessage,
    MalformedRecord,
    NoSession,
    SenderKeyDistributionMessage,
    SenderKeyMessage,
    SenderKeyRecord,
    TooFarInFuture,
    create_sender_key_distribution,
    group_decrypt,
    group_encrypt,
    process_sender_key_distribution,
)
from buzpo_nb.wa.signal.sender_key_record import MAX_MESSAGE_KEYS, MAX_STATES


def sender() -> tuple[SenderKeyRecord, bytes]:
    dist = create_sender_key_distribution(None)
    return dist.record, dist.message


def send(record: SenderKeyRecord, n: int) -> tuple[SenderKeyRecord, list[bytes]]:
    out = []
    for i in range(n):
        r = group_encrypt(record, b"group %d" % i)
        record = r.record
        out.append(r.ciphertext)
    return record, out


def skip(record: SenderKeyRecord, n: int) -> SenderKeyRecord:
    """The sender's record after ``n`` messages that are never delivered (no signing cost)."""
    state = record.states[-1].clone()
    for _ in range(n):
        state.chain_key = hmac.digest(state.chain_key, b"\x02", "sha256")
    state.iteration += n
    return SenderKeyRecord([state])


def test_distribution_message_describes_the_sending_state() -> None:
    signing = KeyPair.generate()
    dist = create_sender_key_distribution(
        None, key_id=77, chain_key=bytes(range(32)), signing_key=signing
    )
    skdm = SenderKeyDistributionMessage.parse(dist.message)
    assert dist.message[0] == 0x33
    assert (skdm.key_id, skdm.iteration, skdm.chain_key) == (77, 0, bytes(range(32)))
    assert skdm.signing_key == b"\x05" + signing.public
    again = create_sender_key_distribution(dist.record)  # existing state reused, not replaced
    assert again.message == dist.message
    record, _ = send(dist.record, 3)
    later = SenderKeyDistributionMessage.parse(create_sender_key_distribution(record).message)
    assert later.iteration == 3


def test_messages_in_order_iterations_are_consecutive() -> None:
    record, skdm = sender()
    record, msgs = send(record, 5)
    assert [SenderKeyMessage.parse(m).iteration for m in msgs] == [0, 1, 2, 3, 4]
    member = process_sender_key_distribution(None, skdm)
    for i, m in enumerate(msgs):
        r = group_decrypt(member, m)
        member = r.record
        assert r.plaintext == b"group %d" % i
    assert member.states[0].message_keys == []


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 30), seed=st.integers(0, 2**32 - 1), late_join=st.integers(0, 5))
def test_any_delivery_order(n: int, seed: int, late_join: int) -> None:
    record, _ = sender()
    record, early = send(record, min(late_join, n))  # sent before the member joined
    skdm = create_sender_key_distribution(record).message
    record, msgs = send(record, n)
    member = process_sender_key_distribution(None, skdm)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    for i in order:
        r = group_decrypt(member, msgs[i])
        member = r.record
        assert r.plaintext == b"group %d" % i
    for i in order[:3]:
        with pytest.raises(DuplicateMessage):
            group_decrypt(member, msgs[i])
    for m in early[:1]:
        with pytest.raises(DuplicateMessage):  # before the SKDM's iteration: never decryptable
            group_decrypt(member, m)


def test_failures_are_typed_and_leave_the_record_alone() -> None:
    record, skdm = sender()
    record, msgs = send(record, 2)
    member = process_sender_key_distribution(None, skdm)
    before = member.serialize()
    with pytest.raises(NoSession):
        group_decrypt(None, msgs[0])
    with pytest.raises(NoSession):
        group_decrypt(process_sender_key_distribution(None, sender()[1]), msgs[0])
    forged = bytearray(msgs[0])
    forged[-70] ^= 1
    with pytest.raises(InvalidSignature):
        group_decrypt(member, bytes(forged))
    with pytest.raises(MalformedMessage):
        group_decrypt(member, msgs[0][:40])
    assert member.serialize() == before
    with pytest.raises(NoSession):
        group_encrypt(None, b"x")
    with pytest.raises(NoSession):
        group_encrypt(member, b"x")  # a member's state cannot sign


def test_limits() -> None:
    record, skdm = sender()
    member = process_sender_key_distribution(None, skdm)
    far = skip(record, MAX_MESSAGE_KEYS + 1)  # iterations 0..2000 skipped, next is 2001
    too_far = group_encrypt(far, b"too far").ciphertext
    with pytest.raises(TooFarInFuture):
        group_decrypt(member, too_far)
    ok = group_decrypt(member, group_encrypt(group_encrypt(record, b"").record, b"1").ciphertext)
    assert ok.plaintext == b"1"

    many = member
    for _ in range(MAX_STATES + 2):
        many = process_sender_key_distribution(many, sender()[1])
    assert len(many.states) == MAX_STATES


def test_skipped_keys_are_capped_at_2000() -> None:
    record, skdm = sender()
    member = process_sender_key_distribution(None, skdm)
    x = group_encrypt(skip(record, MAX_MESSAGE_KEYS), b"x")  # iteration 2000: skips 0..1999
    member = group_decrypt(member, x.ciphertext).record
    assert len(member.states[0].message_keys) == MAX_MESSAGE_KEYS
    y = group_encrypt(skip(x.record, 1), b"y")  # iteration 2002: one more skipped key
    keys = group_decrypt(member, y.ciphertext).record.states[0].message_keys
    assert len(keys) == MAX_MESSAGE_KEYS
    assert keys[0][0] == 1  # the oldest skipped key (iteration 0) was dropped


def test_record_json_is_baileys_shape() -> None:
    signing = KeyPair.from_private(bytes([9]) * 32)
    dist = create_sender_key_distribution(None, key_id=5, chain_key=bytes(32), signing_key=signing)
    data = json.loads(dist.record.serialize())
    assert list(data[0]) == [
        "senderKeyId",
        "senderChainKey",
        "senderSigningKey",
        "senderMessageKeys",
    ]
    assert data[0]["senderChainKey"] == {
        "iteration": 0,
        "seed": {"type": "Buffer", "data": [0] * 32},
    }
    assert data[0]["senderSigningKey"]["public"]["data"][0] == 5
    member = process_sender_key_distribution(None, dist.message)
    assert json.loads(member.serialize())[0]["senderSigningKey"]["private"] == {
        "type": "Buffer",
        "data": [],
    }
    text = dist.record.serialize()
    assert b" " not in text  # compact, as JSON.stringify writes it
    assert SenderKeyRecord.deserialize(text).serialize() == text


def test_record_reads_other_buffer_spellings() -> None:
    record, _ = sender()
    data = json.loads(record.serialize())
    seed = bytes(data[0]["senderChainKey"]["seed"]["data"])
    data[0]["senderChainKey"]["seed"] = {
        "type": "Buffer",
        "data": base64.b64encode(seed).decode(),
    }
    data[0]["senderSigningKey"]["private"] = {
        str(i): b for i, b in enumerate(data[0]["senderSigningKey"]["private"]["data"])
    }
    parsed = SenderKeyRecord.deserialize(json.dumps(data))
    assert parsed == record
    with pytest.raises(MalformedRecord):
        SenderKeyRecord.deserialize(b"{}")
    with pytest.raises(MalformedRecord):
        SenderKeyRecord.deserialize(b"nope")
