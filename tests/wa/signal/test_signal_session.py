"""Pairwise sessions: X3DH set-up, the ratchet under any delivery order, and the typed errors.

Compatibility with libsignal/Baileys bytes is proven in tests/interop/test_signal_interop.py;
these tests pin behaviour (what changes, what raises) with Buzpo on both ends.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signal_devices import Device, now

from buzpo_nb.wa.keys import KeyPair, signed_pre_key
from buzpo_nb.wa.signal import (
    DuplicateMessage,
    InvalidKeyBundle,
    InvalidMessage,
    LocalIdentity,
    MalformedMessage,
    MissingPreKey,
    NoSession,
    PreKeyBundle,
    PreKeyWhisperMessage,
    SessionRecord,
    TooFarInFuture,
    UntrustedIdentity,
    close_open_session,
    decrypt_message,
    decrypt_prekey_message,
    encrypt,
    initiate_session,
)
from buzpo_nb.wa.signal.ratchet import MAX_SPENT_CHAINS
from buzpo_nb.wa.signal.session_record import CLOSED_SESSIONS_MAX


def test_pkmsg_until_the_peer_answers(alice: Device, bob: Device) -> None:
    alice.start(bob)
    kinds = [alice.send(bob, b"m%d" % i) for i in range(3)]
    assert [k for k, _ in kinds] == ["pkmsg"] * 3
    msg = PreKeyWhisperMessage.parse(kinds[0][1])
    assert (msg.pre_key_id, msg.signed_pre_key_id) == (1, 7)
    assert msg.registration_id == alice.local.registration_id
    assert msg.identity_key == alice.local.public
    assert bob.receive(alice, *kinds[1]) == b"m1"
    assert 1 not in bob.pre_keys
    assert bob.receive(alice, *kinds[0]) == b"m0"  # same base key: the session is reused
    assert bob.send(alice, b"answer")[0] == "msg"
    assert alice.receive(bob, *bob.send(alice, b"answer 2")) == b"answer 2"
    assert alice.send(bob, b"now plain")[0] == "msg"
    assert bob.receive(alice, *kinds[2]) == b"m2"


def test_without_one_time_pre_key(alice: Device, bob: Device) -> None:
    alice.start(bob, pre_key_id=None)
    kind, ct = alice.send(bob, b"hello")
    assert PreKeyWhisperMessage.parse(ct).pre_key_id is None
    assert bob.receive(alice, kind, ct) == b"hello"
    assert set(bob.pre_keys) == {1, 2, 3}


def test_records_are_values(alice: Device, bob: Device) -> None:
    """No function changes the record it is given, on success or failure."""
    alice.start(bob)
    start = alice.sessions["bob"]
    before = start.to_json()
    kind, ct = alice.send(bob, b"x")
    assert start.to_json() == before
    bob.receive(alice, kind, ct)
    reply = bob.send(alice, b"y")
    snapshot = alice.sessions["bob"].to_json()
    with pytest.raises(InvalidMessage):
        decrypt_message(
            alice.sessions["bob"], reply[1][:-1] + b"\x00", local=alice.local, now_ms=now()
        )
    assert alice.sessions["bob"].to_json() == snapshot
    decrypt_message(alice.sessions["bob"], reply[1], local=alice.local, now_ms=now())
    assert alice.sessions["bob"].to_json() == snapshot


def test_replays_are_duplicates(alice: Device, bob: Device) -> None:
    alice.start(bob)
    first = alice.send(bob, b"1")
    assert bob.receive(alice, *first) == b"1"
    with pytest.raises(DuplicateMessage):
        bob.receive(alice, *first)
    alice.receive(bob, *bob.send(alice, b"r"))
    plain = alice.send(bob, b"2")
    assert bob.receive(alice, *plain) == b"2"
    with pytest.raises(DuplicateMessage):
        bob.receive(alice, *plain)


def test_tampering_is_invalid_message(alice: Device, bob: Device) -> None:
    alice.start(bob)
    bob.receive(alice, *alice.send(bob, b"open"))
    alice.receive(bob, *bob.send(alice, b"ok"))
    kind, ct = alice.send(bob, b"a longer message body to flip bits in")
    assert kind == "msg"
    for i in (len(ct) - 1, len(ct) - 9, len(ct) - 12):  # MAC, last ciphertext byte, inside
        bad = bytearray(ct)
        bad[i] ^= 0x40
        with pytest.raises(InvalidMessage):
            bob.receive(alice, kind, bytes(bad))
    with pytest.raises(MalformedMessage):
        bob.receive(alice, kind, ct[:8])
    with pytest.raises(MalformedMessage):
        bob.receive(alice, kind, b"\x22" + ct[1:])  # version 2
    assert bob.receive(alice, kind, ct) == b"a longer message body to flip bits in"


def test_no_session(alice: Device, bob: Device) -> None:
    with pytest.raises(NoSession):
        encrypt(None, b"x", local=alice.local)
    with pytest.raises(NoSession):
        encrypt(SessionRecord(), b"x", local=alice.local)
    alice.start(bob)
    bob.receive(alice, *alice.send(bob, b"x"))
    alice.receive(bob, *bob.send(alice, b"y"))
    _kind, ct = alice.send(bob, b"z")
    with pytest.raises(NoSession):
        decrypt_message(None, ct, local=bob.local, now_ms=now())
    closed = close_open_session(alice.sessions["bob"], now())
    assert not closed.has_open_session()
    with pytest.raises(NoSession):
        encrypt(closed, b"x", local=alice.local)


def test_message_from_another_session_is_invalid(alice: Device, bob: Device) -> None:
    """A ``msg`` that belongs to no session of the record fails authentication."""
    carol = Device("carol")
    alice.start(bob)
    bob.receive(alice, *alice.send(bob, b"x"))
    carol.start(bob, pre_key_id=2)
    _kind, ct = carol.send(bob, b"for bob, but not on alice's session")
    inner = PreKeyWhisperMessage.parse(ct).message
    with pytest.raises(InvalidMessage):
        decrypt_message(bob.sessions["alice"], inner, local=bob.local, now_ms=now())


def test_missing_pre_keys(alice: Device, bob: Device) -> None:
    alice.start(bob)
    _kind, ct = alice.send(bob, b"x")
    with pytest.raises(MissingPreKey):
        decrypt_prekey_message(
            None,
            ct,
            local=bob.local,
            signed_pre_key=bob.signed.key_pair,
            pre_key=None,
            now_ms=now(),
        )
    with pytest.raises(MissingPreKey):
        decrypt_prekey_message(
            None, ct, local=bob.local, signed_pre_key=None, pre_key=bob.pre_keys[1], now_ms=now()
        )
    with pytest.raises(InvalidMessage):  # the wrong one-time key gives another root key
        decrypt_prekey_message(
            None,
            ct,
            local=bob.local,
            signed_pre_key=bob.signed.key_pair,
            pre_key=bob.pre_keys[2],
            now_ms=now(),
        )


def test_forged_bundle_is_refused(alice: Device, bob: Device) -> None:
    bundle = bob.bundle()
    forged = PreKeyBundle(
        bundle.registration_id,
        bundle.identity_key,
        bundle.signed_pre_key_id,
        KeyPair.generate().public,
        bundle.signed_pre_key_signature,
        1,
        bundle.pre_key_public,
    )
    with pytest.raises(InvalidKeyBundle):
        initiate_session(None, forged, local=alice.local, now_ms=now())
    short = PreKeyBundle(1, b"\x05" * 10, 1, bundle.signed_pre_key_public, b"\x00" * 64)
    with pytest.raises(InvalidKeyBundle):
        initiate_session(None, short, local=alice.local, now_ms=now())


def test_untrusted_identity(alice: Device, bob: Device) -> None:
    stranger = KeyPair.generate().public
    with pytest.raises(UntrustedIdentity) as info:
        initiate_session(
            None, bob.bundle(), local=alice.local, now_ms=now(), trusted_identity=stranger
        )
    assert info.value.identity_key == b"\x05" + bob.local.identity.public
    initiate_session(
        None,
        bob.bundle(),
        local=alice.local,
        now_ms=now(),
        trusted_identity=bob.local.identity.public,
    )  # raw or 05-prefixed both fine
    alice.start(bob)
    _kind, ct = alice.send(bob, b"x")
    with pytest.raises(UntrustedIdentity):
        decrypt_prekey_message(
            None,
            ct,
            local=bob.local,
            signed_pre_key=bob.signed.key_pair,
            pre_key=bob.pre_keys[1],
            now_ms=now(),
            trusted_identity=stranger,
        )
    with pytest.raises(UntrustedIdentity):
        encrypt(alice.sessions["bob"], b"y", local=alice.local, trusted_identity=stranger)


def test_too_far_in_future(alice: Device, bob: Device) -> None:
    alice.start(bob)
    bob.receive(alice, *alice.send(bob, b"0"))
    alice.receive(bob, *bob.send(alice, b"ack"))
    sent = [alice.send(bob, b"%d" % i) for i in range(2001)]  # counters 0..2000 of a new chain
    with pytest.raises(TooFarInFuture):
        bob.receive(alice, *sent[2000])  # 2001 keys to derive
    assert bob.receive(alice, *sent[1999]) == b"1999"  # exactly 2000: allowed
    assert bob.receive(alice, *sent[2000]) == b"2000"
    assert bob.receive(alice, *sent[5]) == b"5"


def test_peer_restart_archives_the_old_session(alice: Device, bob: Device) -> None:
    alice.start(bob)
    bob.receive(alice, *alice.send(bob, b"s1"))
    alice.receive(bob, *bob.send(alice, b"s1 ack"))
    late = alice.send(bob, b"late on s1")
    alice.sessions.pop("bob")  # alice lost her state and starts over
    alice.start(bob, pre_key_id=2)
    assert bob.receive(alice, *alice.send(bob, b"s2")) == b"s2"
    record = bob.sessions["alice"]
    assert len(record.sessions) == 2
    assert sum(not s.is_closed for s in record.sessions.values()) == 1
    assert bob.receive(alice, *late) == b"late on s1"  # closed sessions still decrypt
    assert alice.receive(bob, *bob.send(alice, b"on s2")) == b"on s2"  # sent on the open one


def test_simultaneous_initiation_still_converses(alice: Device, bob: Device) -> None:
    """Both fetch the other's bundle at once; as in libsignal each ends up sending on the
    session the other started and decrypting with its own (now closed) one."""
    alice.start(bob, pre_key_id=1)
    bob.start(alice, pre_key_id=1)
    from_alice = alice.send(bob, b"hi bob")
    from_bob = bob.send(alice, b"hi alice")
    assert bob.receive(alice, *from_alice) == b"hi bob"
    assert alice.receive(bob, *from_bob) == b"hi alice"
    for i in range(3):
        assert bob.receive(alice, *alice.send(bob, b"a%d" % i)) == b"a%d" % i
        assert alice.receive(bob, *bob.send(alice, b"b%d" % i)) == b"b%d" % i


def test_at_most_40_sessions_are_kept(alice: Device, bob: Device) -> None:
    for _ in range(CLOSED_SESSIONS_MAX + 5):
        alice.start(bob, pre_key_id=None)
        alice.send(bob, b"x")
    record = alice.sessions["bob"]
    assert len(record.sessions) == CLOSED_SESSIONS_MAX
    assert record.has_open_session()
    assert [s.is_closed for s in record.sessions.values()].count(False) == 1


def test_spent_chains_do_not_pile_up(alice: Device, bob: Device) -> None:
    """Deliberate difference from libsignal-node: closed receiving chains without keys are
    bounded; chains still holding skipped keys are kept however old."""
    alice.start(bob)
    bob.receive(alice, *alice.send(bob, b"open"))
    first = alice.send(bob, b"first")
    bob.receive(alice, *first)
    kept = recent = None
    for i in range(30):
        alice.receive(bob, *bob.send(alice, b"b%d" % i))
        if i == 1:
            kept = alice.send(bob, b"kept")  # never delivered during the loop
        recent = alice.send(bob, b"a%d" % i)
        bob.receive(alice, *recent)
    chains = bob.sessions["alice"].open_session().chains  # type: ignore[union-attr]
    assert len(chains) <= MAX_SPENT_CHAINS + 3
    assert kept is not None and recent is not None
    assert bob.receive(alice, *kept) == b"kept"  # its chain was kept for its key
    with pytest.raises(DuplicateMessage):
        bob.receive(alice, *recent)
    with pytest.raises(InvalidMessage):  # chain long forgotten: no longer recognised as a replay
        bob.receive(alice, *first)


def test_injected_randomness_makes_runs_repeatable() -> None:
    """Sans-I/O: with every random input injected, two runs produce identical bytes."""

    def run() -> tuple[bytes, str]:
        a = LocalIdentity(KeyPair.from_private(bytes([1]) * 32), 11)
        b = Device("b", local=LocalIdentity(KeyPair.from_private(bytes([2]) * 32), 22))
        b.pre_keys = {1: KeyPair.from_private(bytes([3]) * 32)}
        b.signed = signed_pre_key(
            b.local.identity, 7, key_pair=KeyPair.from_private(bytes([4]) * 32), nonce=bytes(64)
        )
        bundle = b.bundle()
        record = initiate_session(
            None,
            bundle,
            local=a,
            now_ms=5,
            base_key=KeyPair.from_private(bytes([5]) * 32),
            ratchet_key=KeyPair.from_private(bytes([6]) * 32),
        )
        out = encrypt(record, b"same", local=a)
        return out.ciphertext, out.record.to_json()

    assert run() == run()


def test_record_survives_json_mid_conversation(alice: Device, bob: Device) -> None:
    alice.start(bob)
    bob.receive(alice, *alice.send(bob, b"1"))
    pending = [alice.send(bob, b"%d" % i) for i in range(2, 5)]
    bob.receive(alice, *pending[2])
    for dev, peer in ((alice, "bob"), (bob, "alice")):
        text = dev.sessions[peer].to_json()
        dev.sessions[peer] = SessionRecord.from_json(text)
        assert dev.sessions[peer].to_json() == text
    assert bob.receive(alice, *pending[0]) == b"2"
    assert alice.receive(bob, *bob.send(alice, b"back")) == b"back"


# --- any delivery order -------------------------------------------------------------------------

bursts = st.lists(st.tuples(st.booleans(), st.integers(1, 4)), min_size=1, max_size=10)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bursts=bursts, seed=st.integers(0, 2**32 - 1), pre_key=st.booleans())
def test_any_delivery_order(bursts: list[tuple[bool, int]], seed: int, pre_key: bool) -> None:
    """Bursts from either side; after each burst a random part of everything in flight is
    delivered in random order, then the rest; every message decrypts once, replays fail."""
    rng = random.Random(seed)
    alice, bob = Device("alice"), Device("bob")
    alice.start(bob, pre_key_id=1 if pre_key else None)
    in_flight: list[tuple[Device, Device, str, bytes, bytes]] = []
    delivered: list[tuple[Device, Device, str, bytes]] = []
    counter = 0

    def deliver(item: tuple[Device, Device, str, bytes, bytes]) -> None:
        sender, receiver, kind, ct, plain = item
        assert receiver.receive(sender, kind, ct) == plain
        delivered.append((sender, receiver, kind, ct))

    for from_bob, count in bursts:
        sender, receiver = (bob, alice) if from_bob else (alice, bob)
        if "alice" not in bob.sessions and from_bob:
            sender, receiver = alice, bob  # bob cannot speak before alice's first pkmsg arrived
        for _ in range(count):
            counter += 1
            plain = b"msg %d" % counter
            in_flight.append((sender, receiver, *sender.send(receiver, plain), plain))
        rng.shuffle(in_flight)
        for _ in range(rng.randint(0, len(in_flight))):
            deliver(in_flight.pop())
    rng.shuffle(in_flight)
    while in_flight:
        deliver(in_flight.pop())
    for sender, receiver, kind, ct in rng.sample(delivered, min(3, len(delivered))):
        with pytest.raises(DuplicateMessage):
            receiver.receive(sender, kind, ct)
