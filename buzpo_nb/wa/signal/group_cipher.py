"""Group messages with sender keys (``skmsg``), compatible with Baileys 7.0.0-rc.9
``lib/Signal/Group`` (a port of libsignal's sender keys), as pure functions on records.

A sender owns one chain per group: iteration ``i`` uses message seed ``HMAC(chain_i, 0x01)`` and
the chain moves on as ``chain_{i+1} = HMAC(chain_i, 0x02)``; a seed expands with
``deriveSecrets(seed, zeros32, "WhisperGroup")`` into IV = block0[0:16] and
AES-256 key = block0[16:32] || block1[0:16]. Each ``skmsg`` is signed (XEdDSA) with the sender's
signing key. Members learn (key id, iteration, chain key, public signing key) from a
SenderKeyDistributionMessage sent pairwise.

One deliberate difference: Baileys' ``GroupCipher.encrypt`` encrypts its 2nd, 3rd... messages at
``iteration + 1`` (it skips every other iteration and stores the skipped keys in its own record);
Buzpo uses consecutive iterations. Receivers accept both, and either implementation continues
safely from the other's stored state (neither ever reuses an iteration).
"""

from __future__ import annotations

import os
import secrets
from typing import NamedTuple

from buzpo_nb.wa.keys import KeyPair, signal_public, xeddsa_verify
from buzpo_nb.wa.signal.errors import (
    DuplicateMessage,
    InvalidSignature,
    NoSession,
    TooFarInFuture,
)
from buzpo_nb.wa.signal.primitives import (
    ZERO_SALT,
    aes_cbc_decrypt,
    aes_cbc_encrypt,
    derive_secrets,
    hmac_sha256,
)
from buzpo_nb.wa.signal.ratchet import CHAIN_KEY_SEED, MAX_SKIP, MESSAGE_KEY_SEED
from buzpo_nb.wa.signal.sender_key_record import (
    MAX_MESSAGE_KEYS,
    MAX_STATES,
    SenderKeyRecord,
    SenderKeyState,
)
from buzpo_nb.wa.signal.wire import SenderKeyDistributionMessage, SenderKeyMessage

INFO_GROUP = b"WhisperGroup"
MAX_KEY_ID = 2147483647  # Baileys generateSenderKeyId: crypto.randomInt(2**31 - 1)


class DistributionResult(NamedTuple):
    """Our (possibly new) sending record and the serialized SKDM to send to members."""

    record: SenderKeyRecord
    message: bytes


class GroupEncryptResult(NamedTuple):
    record: SenderKeyRecord
    ciphertext: bytes


class GroupDecryptResult(NamedTuple):
    record: SenderKeyRecord
    plaintext: bytes


def sender_message_key(seed: bytes) -> tuple[bytes, bytes]:
    """(IV, AES-256 key) for one iteration's seed (Baileys ``SenderMessageKey``)."""
    first, second = derive_secrets(seed, ZERO_SALT, INFO_GROUP, 2)
    return first[:16], first[16:] + second[:16]


def create_sender_key_distribution(
    record: SenderKeyRecord | None,
    *,
    key_id: int | None = None,
    chain_key: bytes | None = None,
    signing_key: KeyPair | None = None,
) -> DistributionResult:
    """Our SKDM for a group (Baileys ``GroupSessionBuilder.create``), creating the sending state
    on first use: random key id below 2^31-1, random 32-byte chain key, fresh signing key pair
    (all injectable for tests). An existing state is reused as is, at its current iteration."""
    out = record.copy() if record is not None else SenderKeyRecord()
    if out.is_empty():
        signing = signing_key if signing_key is not None else KeyPair.generate()
        out.states = [
            SenderKeyState(
                key_id=key_id if key_id is not None else secrets.randbelow(MAX_KEY_ID),
                iteration=0,
                chain_key=chain_key if chain_key is not None else os.urandom(32),
                signing_public=signal_public(signing.public),
                signing_private=signing.private,
            )
        ]
    state = out.states[-1]
    message = SenderKeyDistributionMessage(
        key_id=state.key_id,
        iteration=state.iteration,
        chain_key=state.chain_key,
        signing_key=signal_public(state.signing_public),
    )
    return DistributionResult(out, message.serialize())


def process_sender_key_distribution(
    record: SenderKeyRecord | None, message: SenderKeyDistributionMessage | bytes
) -> SenderKeyRecord:
    """Learn a member's sender key (Baileys ``GroupSessionBuilder.process``): append a state,
    keeping at most 5."""
    if not isinstance(message, SenderKeyDistributionMessage):
        message = SenderKeyDistributionMessage.parse(message)
    out = record.copy() if record is not None else SenderKeyRecord()
    out.states.append(
        SenderKeyState(
            key_id=message.key_id,
            iteration=message.iteration,
            chain_key=message.chain_key,
            signing_public=message.signing_key,
        )
    )
    if len(out.states) > MAX_STATES:
        del out.states[0]
    return out


def group_encrypt(
    record: SenderKeyRecord | None, plaintext: bytes, *, nonce: bytes | None = None
) -> GroupEncryptResult:
    """Encrypt (already padded) ``plaintext`` as an ``skmsg`` with our newest sending state."""
    if record is None or record.is_empty():
        raise NoSession("no sender key state to encrypt with")
    state = record.states[-1]
    if not state.signing_private:
        raise NoSession("sender key state has no signing private key (not ours)")
    seed = hmac_sha256(state.chain_key, MESSAGE_KEY_SEED)
    iv, key = sender_message_key(seed)
    ciphertext = SenderKeyMessage.build(
        state.key_id,
        state.iteration,
        aes_cbc_encrypt(key, iv, plaintext),
        state.signing_private,
        nonce=nonce,
    )
    advanced = state.clone()
    advanced.iteration = state.iteration + 1
    advanced.chain_key = hmac_sha256(state.chain_key, CHAIN_KEY_SEED)
    out = record.copy()
    out.states[-1] = advanced
    return GroupEncryptResult(out, ciphertext)


def _take_seed(state: SenderKeyState, iteration: int) -> bytes:
    """Message seed for ``iteration`` on a state the caller owns (Baileys ``getSenderKey``)."""
    if state.iteration > iteration:
        for i, (it, seed) in enumerate(state.message_keys):
            if it == iteration:
                del state.message_keys[i]
                return seed
        raise DuplicateMessage(
            f"sender key iteration {iteration} already used (chain at {state.iteration})"
        )
    if iteration - state.iteration > MAX_SKIP:
        raise TooFarInFuture(f"{iteration - state.iteration} messages into the future")
    chain = state.chain_key
    keys = state.message_keys
    for it in range(state.iteration, iteration):
        keys.append((it, hmac_sha256(chain, MESSAGE_KEY_SEED)))
        chain = hmac_sha256(chain, CHAIN_KEY_SEED)
    if len(keys) > MAX_MESSAGE_KEYS:
        del keys[: len(keys) - MAX_MESSAGE_KEYS]
    state.chain_key = hmac_sha256(chain, CHAIN_KEY_SEED)
    state.iteration = iteration + 1
    return hmac_sha256(chain, MESSAGE_KEY_SEED)


def group_decrypt(record: SenderKeyRecord | None, ciphertext: bytes) -> GroupDecryptResult:
    """Decrypt an ``skmsg`` (Baileys ``GroupCipher.decrypt``).

    Errors: ``MalformedMessage``, ``NoSession`` (no state for its key id: we never got the
    sender's SKDM), ``InvalidSignature``, ``DuplicateMessage`` (iteration already used),
    ``TooFarInFuture``, ``InvalidMessage`` (bad padding).
    """
    message = SenderKeyMessage.parse(ciphertext)
    index = record.find(message.key_id) if record is not None else None
    if record is None or index is None:
        raise NoSession(f"no sender key state for key id {message.key_id}")
    state = record.states[index]
    if not xeddsa_verify(state.signing_public, message.signed, message.signature):
        raise InvalidSignature("sender key message signature does not verify")
    state = state.clone()
    iv, key = sender_message_key(_take_seed(state, message.iteration))
    plaintext = aes_cbc_decrypt(key, iv, message.ciphertext)
    out = record.copy()
    out.states[index] = state
    return GroupDecryptResult(out, plaintext)
