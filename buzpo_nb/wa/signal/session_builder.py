"""X3DH session set-up, both roles, as libsignal-node 6.0.0 ``session_builder.js`` computes it.

Initiator (we fetched the peer's pre-key bundle, Baileys ``injectE2ESession``)::

    secret = 0xFF*32 || DH(IK_a, SPK_b) || DH(EK_a, IK_b) || DH(EK_a, SPK_b) [|| DH(EK_a, OPK_b)]

Responder (first ``pkmsg`` from the peer) computes the same with the roles swapped. The root key is
the first block of ``deriveSecrets(secret, zeros32, "WhisperText")``. The initiator immediately
ratchets once against the peer's signed pre-key to get a sending chain, and marks the session
``pendingPreKey`` so its messages go out as ``pkmsg`` until the peer answers; the responder gets
its chains from the first message's ratchet key.

Both functions return a *new* record: an open session already in it is closed (kept for late
messages), never mutated in place.
"""

from __future__ import annotations

from dataclasses import dataclass

from buzpo_nb.wa.errors import CryptoError
from buzpo_nb.wa.keys import KeyPair, shared_key, signal_public, xeddsa_verify
from buzpo_nb.wa.signal.errors import InvalidKeyBundle
from buzpo_nb.wa.signal.identity import LocalIdentity, check_trusted
from buzpo_nb.wa.signal.primitives import ZERO_SALT, derive_secrets
from buzpo_nb.wa.signal.ratchet import INFO_RATCHET, agree
from buzpo_nb.wa.signal.session_record import (
    BaseKeyType,
    Chain,
    ChainType,
    PendingPreKey,
    SessionRecord,
    SessionState,
    b64,
    close_session,
)

INFO_TEXT = b"WhisperText"
X3DH_PREFIX = b"\xff" * 32  # libsignal fills the first 32 bytes of the secret with 0xFF


@dataclass(frozen=True, slots=True)
class PreKeyBundle:
    """A peer device's published keys, as the ``encrypt`` iq returns them (protocol-map §5.2).

    Keys may be raw (32 bytes, as on the wire) or ``05``-prefixed (33, as Baileys passes them to
    libsignal); the session stores the prefixed form either way.
    """

    registration_id: int
    identity_key: bytes
    signed_pre_key_id: int
    signed_pre_key_public: bytes
    signed_pre_key_signature: bytes
    pre_key_id: int | None = None
    pre_key_public: bytes | None = None


def root_key_from(parts: list[bytes]) -> bytes:
    """First block of ``deriveSecrets(0xFF*32 || parts, zeros32, "WhisperText")``."""
    return derive_secrets(X3DH_PREFIX + b"".join(parts), ZERO_SALT, INFO_TEXT, 1)[0]


def initiate_session(
    record: SessionRecord | None,
    bundle: PreKeyBundle,
    *,
    local: LocalIdentity,
    now_ms: int,
    trusted_identity: bytes | None = None,
    base_key: KeyPair | None = None,
    ratchet_key: KeyPair | None = None,
) -> SessionRecord:
    """Start a session from a pre-key bundle (libsignal ``SessionBuilder.initOutgoing``).

    Unlike libsignal-node, the signed pre-key signature is really verified (``InvalidKeyBundle``).
    ``base_key`` (X3DH ephemeral) and ``ratchet_key`` (first sending ratchet key) are injectable
    for tests; by default fresh random pairs.
    """
    try:
        their_identity = signal_public(bundle.identity_key)
        their_signed = signal_public(bundle.signed_pre_key_public)
        their_one_time = (
            signal_public(bundle.pre_key_public) if bundle.pre_key_public is not None else None
        )
    except CryptoError as exc:
        raise InvalidKeyBundle(f"malformed key in pre-key bundle: {exc}") from exc
    check_trusted(their_identity, trusted_identity)
    if not xeddsa_verify(their_identity, their_signed, bundle.signed_pre_key_signature):
        raise InvalidKeyBundle("signed pre-key signature does not verify")

    base = base_key if base_key is not None else KeyPair.generate()
    ratchet = ratchet_key if ratchet_key is not None else KeyPair.generate()
    try:
        parts = [
            shared_key(local.identity.private, their_signed),
            shared_key(base.private, their_identity),
            shared_key(base.private, their_signed),
        ]
        if their_one_time is not None:
            parts.append(shared_key(base.private, their_one_time))
        root_key, chain_key = derive_secrets(
            shared_key(ratchet.private, their_signed), root_key_from(parts), INFO_RATCHET, 2
        )
    except CryptoError as exc:
        raise InvalidKeyBundle(f"unusable key in pre-key bundle: {exc}") from exc

    base_public = signal_public(base.public)
    ratchet_public = signal_public(ratchet.public)
    state = SessionState(
        registration_id=bundle.registration_id,
        root_key=root_key,
        ephemeral_public=ratchet_public,
        ephemeral_private=ratchet.private,
        last_remote_ephemeral_key=their_signed,
        previous_counter=0,
        base_key=base_public,
        base_key_type=BaseKeyType.OURS,
        remote_identity_key=their_identity,
        created=now_ms,
        used=now_ms,
        chains={b64(ratchet_public): Chain(ChainType.SENDING, -1, chain_key, {})},
        pending_pre_key=PendingPreKey(
            signed_key_id=bundle.signed_pre_key_id,
            base_key=base_public,
            pre_key_id=bundle.pre_key_id if bundle.pre_key_public is not None else None,
        ),
    )
    out = record.copy() if record is not None else SessionRecord()
    item = out.open_item()
    if item is not None:
        out.sessions[item[0]] = close_session(item[1], now_ms)
    out.sessions[b64(base_public)] = state
    return out


def respond_session(
    *,
    local: LocalIdentity,
    their_identity: bytes,
    their_base_key: bytes,
    registration_id: int,
    signed_pre_key: KeyPair,
    one_time_pre_key: KeyPair | None,
    now_ms: int,
) -> SessionState:
    """The responder's new session for an incoming ``pkmsg`` (libsignal ``initSession(false)``).

    Keys come from the peer's message, so a malformed one is ``InvalidMessage`` (via ``agree``).
    The session starts without chains: the first message's ratchet key creates them.
    """
    parts = [
        agree(signed_pre_key.private, their_identity),
        agree(local.identity.private, their_base_key),
        agree(signed_pre_key.private, their_base_key),
    ]
    if one_time_pre_key is not None:
        parts.append(agree(one_time_pre_key.private, their_base_key))
    return SessionState(
        registration_id=registration_id,
        root_key=root_key_from(parts),
        ephemeral_public=signal_public(signed_pre_key.public),
        ephemeral_private=signed_pre_key.private,
        last_remote_ephemeral_key=their_base_key,
        previous_counter=0,
        base_key=their_base_key,
        base_key_type=BaseKeyType.THEIRS,
        remote_identity_key=their_identity,
        created=now_ms,
        used=now_ms,
    )
