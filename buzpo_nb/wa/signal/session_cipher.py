"""Encrypt and decrypt pairwise messages (``msg`` / ``pkmsg``) on session records, as libsignal-node
6.0.0 ``session_cipher.js`` does, but as pure functions: a record goes in, a new record comes out
with the ciphertext or plaintext, and the record passed in is never changed. The caller stores the
new record (Baileys: ``session-<address>.json``) only when the call succeeds, which is exactly
when libsignal stores it.

Message layout: ``0x33 || WhisperMessage || HMAC-SHA256(mac_key, sender_identity33 ||
receiver_identity33 || 0x33 || WhisperMessage)[:8]``, the body AES-256-CBC/PKCS#7 encrypted.

Decryption tries every session of the record, most recently used first (a late message of a
closed session still decrypts), keeping the changes of the one that succeeds; unlike libsignal,
the state changes of failed attempts are discarded instead of being saved along with the winner.
"""

from __future__ import annotations

import hmac
from typing import Literal, NamedTuple

from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.signal.errors import (
    DuplicateMessage,
    InvalidMessage,
    MissingPreKey,
    NoSession,
    SignalError,
)
from buzpo_nb.wa.signal.identity import LocalIdentity, check_trusted
from buzpo_nb.wa.signal.primitives import aes_cbc_decrypt, aes_cbc_encrypt, hmac_sha256
from buzpo_nb.wa.signal.ratchet import (
    maybe_step_ratchet,
    message_key_material,
    next_sending_key,
    take_message_key,
)
from buzpo_nb.wa.signal.session_builder import respond_session
from buzpo_nb.wa.signal.session_record import (
    BaseKeyType,
    SessionRecord,
    SessionState,
    b64,
    close_session,
    remove_old_sessions,
)
from buzpo_nb.wa.signal.wire import (
    MAC_SIZE,
    VERSION_BYTE,
    PreKeyWhisperMessage,
    WhisperMessage,
    encode_whisper_body,
)

MessageType = Literal["pkmsg", "msg"]  # the `type` attribute of <enc> (libsignal types 3 and 1)
_VERSION = bytes((VERSION_BYTE,))


class EncryptResult(NamedTuple):
    """New record to store, ``enc`` type and bytes, and the peer's registration id."""

    record: SessionRecord
    type: MessageType
    ciphertext: bytes
    remote_registration_id: int | None


class DecryptResult(NamedTuple):
    """New record to store and the plaintext (still padded, see ``padding``).

    ``used_pre_key_id``: the one-time pre-key this ``pkmsg`` consumed; the caller deletes it
    (libsignal ``removePreKey``). ``remote_identity_key``: the peer's 33-byte identity key, for the
    caller's identity store.
    """

    record: SessionRecord
    plaintext: bytes
    used_pre_key_id: int | None
    remote_identity_key: bytes


def _identity33(key: bytes) -> bytes:
    """The 33 bytes libsignal copies into the MAC input (a 32-byte key leaves a zero byte)."""
    return key[:33].ljust(33, b"\x00")


def encrypt(
    record: SessionRecord | None,
    plaintext: bytes,
    *,
    local: LocalIdentity,
    trusted_identity: bytes | None = None,
) -> EncryptResult:
    """Encrypt ``plaintext`` (already padded) on the open session (libsignal ``encrypt``).

    Returns ``pkmsg`` while the session is still waiting for the peer's first reply, else
    ``msg``. Raises ``NoSession`` without an open session, ``UntrustedIdentity`` if the session's
    peer identity differs from ``trusted_identity``.
    """
    if record is None:
        raise NoSession("no sessions")
    item = record.open_item()
    if item is None:
        raise NoSession("no open session")
    name, state = item
    check_trusted(state.remote_identity_key, trusted_identity)
    state = state.clone()
    try:
        counter, message_key = next_sending_key(state)
    except KeyError as exc:
        raise NoSession(f"open session cannot send: {exc}") from exc
    cipher_key, mac_key, iv = message_key_material(message_key)
    body = encode_whisper_body(
        state.ephemeral_public,
        counter,
        state.previous_counter,
        aes_cbc_encrypt(cipher_key, iv, plaintext),
    )
    mac = hmac_sha256(
        mac_key, local.public + _identity33(state.remote_identity_key) + _VERSION + body
    )
    whisper = _VERSION + body + mac[:MAC_SIZE]

    out = record.copy()
    out.sessions[name] = state
    remove_old_sessions(out)
    pending = state.pending_pre_key
    if pending is None:
        return EncryptResult(out, "msg", whisper, state.registration_id)
    prekey = PreKeyWhisperMessage(
        registration_id=local.registration_id,
        pre_key_id=pending.pre_key_id or None,
        signed_pre_key_id=pending.signed_key_id,
        base_key=pending.base_key,
        identity_key=local.public,
        message=whisper,
    )
    return EncryptResult(out, "pkmsg", prekey.serialize(), state.registration_id)


def _decrypt_on(
    state: SessionState,
    message: WhisperMessage,
    local: LocalIdentity,
    ratchet_key: KeyPair | None,
) -> bytes:
    """libsignal ``doDecryptWhisperMessage`` on a state the caller owns (mutated on success
    *and* failure; callers pass a clone)."""
    maybe_step_ratchet(state, message.ephemeral_key, message.previous_counter, ratchet_key)
    message_key = take_message_key(state, b64(message.ephemeral_key), message.counter)
    cipher_key, mac_key, iv = message_key_material(message_key)
    expected = hmac_sha256(
        mac_key,
        _identity33(state.remote_identity_key) + local.public + _VERSION + message.body,
    )[:MAC_SIZE]
    if not hmac.compare_digest(expected, message.mac):
        raise InvalidMessage("bad MAC")
    plaintext = aes_cbc_decrypt(cipher_key, iv, message.ciphertext)
    state.pending_pre_key = None
    return plaintext


def decrypt_message(
    record: SessionRecord | None,
    ciphertext: bytes,
    *,
    local: LocalIdentity,
    now_ms: int,
    trusted_identity: bytes | None = None,
    ratchet_key: KeyPair | None = None,
) -> DecryptResult:
    """Decrypt a ``msg`` (libsignal ``decryptWhisperMessage``).

    Errors: ``NoSession`` (no record/sessions), ``MalformedMessage`` (does not parse),
    ``DuplicateMessage`` (key already used: replay), ``TooFarInFuture``, ``InvalidMessage``
    (no session authenticates it), ``UntrustedIdentity``.
    """
    if record is None or not record.sessions:
        raise NoSession("no session record")
    message = WhisperMessage.parse(ciphertext)
    failures: list[SignalError] = []
    for name, state in record.by_recent_use():
        trial = state.clone()
        try:
            plaintext = _decrypt_on(trial, message, local, ratchet_key)
        except SignalError as exc:
            failures.append(exc)
            continue
        check_trusted(trial.remote_identity_key, trusted_identity)
        trial.used = now_ms
        out = record.copy()
        out.sessions[name] = trial
        remove_old_sessions(out)
        return DecryptResult(out, plaintext, None, trial.remote_identity_key)
    duplicate = next((e for e in failures if isinstance(e, DuplicateMessage)), None)
    raise duplicate or failures[0]


def decrypt_prekey_message(
    record: SessionRecord | None,
    message: PreKeyWhisperMessage | bytes,
    *,
    local: LocalIdentity,
    signed_pre_key: KeyPair | None,
    pre_key: KeyPair | None = None,
    now_ms: int,
    trusted_identity: bytes | None = None,
    ratchet_key: KeyPair | None = None,
) -> DecryptResult:
    """Decrypt a ``pkmsg``, building the session on first sight (libsignal
    ``decryptPreKeyWhisperMessage`` + ``SessionBuilder.initIncoming``).

    Two steps for the caller: ``PreKeyWhisperMessage.parse(data)`` tells which ``pre_key_id`` and
    ``signed_pre_key_id`` to load; pass those key pairs here (None if not held). They are only
    needed when the record has no session for the message's base key yet (a repeated ``pkmsg``
    reuses it); ``pre_key`` is ignored when the message names none. A new session closes the
    open one. ``MissingPreKey`` if a needed key is absent; otherwise the same errors as
    :func:`decrypt_message` (a replayed ``pkmsg`` is a ``DuplicateMessage``).
    """
    if isinstance(message, bytes | bytearray | memoryview):
        message = PreKeyWhisperMessage.parse(bytes(message))
    check_trusted(message.identity_key, trusted_identity)
    out = record.copy() if record is not None else SessionRecord()
    name = b64(message.base_key)
    existing = out.sessions.get(name)
    used_pre_key_id: int | None = None
    if existing is not None:
        if existing.base_key_type == BaseKeyType.OURS:
            raise InvalidMessage("pkmsg carries our own base key")
        state = existing.clone()
    else:
        if message.pre_key_id is not None and pre_key is None:
            raise MissingPreKey(f"no one-time pre-key {message.pre_key_id}")
        if signed_pre_key is None:
            raise MissingPreKey(f"no signed pre-key {message.signed_pre_key_id}")
        state = respond_session(
            local=local,
            their_identity=message.identity_key,
            their_base_key=message.base_key,
            registration_id=message.registration_id,
            signed_pre_key=signed_pre_key,
            one_time_pre_key=pre_key if message.pre_key_id is not None else None,
            now_ms=now_ms,
        )
        item = out.open_item()
        if item is not None:
            out.sessions[item[0]] = close_session(item[1], now_ms)
        used_pre_key_id = message.pre_key_id
    plaintext = _decrypt_on(state, WhisperMessage.parse(message.message), local, ratchet_key)
    out.sessions[name] = state
    remove_old_sessions(out)
    return DecryptResult(out, plaintext, used_pre_key_id, state.remote_identity_key)
