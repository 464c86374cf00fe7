"""The Double Ratchet steps of libsignal-node 6.0.0 (``session_cipher.js``), on a session the
caller owns (a clone), so callers decide whether the changes are kept.

Key derivation, exactly as libsignal:

* chain step: message key ``HMAC(chain_key, 0x01)``, next chain key ``HMAC(chain_key, 0x02)``;
* message keys: ``deriveSecrets(message_key, zeros32, "WhisperMessageKeys")`` -> AES key, MAC key,
  and the first 16 bytes of the third block as IV;
* DH ratchet: ``deriveSecrets(DH(remote, ours), root_key, "WhisperRatchet")`` -> new root key,
  new chain key.

Limits and quirks kept on purpose: at most 2000 message keys may be derived in one jump
(``Over 2000 messages into the future!``); derived keys of skipped messages stay in their chain
until used (libsignal never prunes them); a chain whose peer moved on is closed by dropping its
key after deriving the keys the peer says it sent on it.

One deliberate difference: libsignal-node never deletes closed receiving chains, so a session
grows by ~100 bytes of JSON per conversation turn forever (1,500 turns = 158 kB rewritten per
message). Buzpo keeps every chain that still holds message keys but only the newest
``MAX_SPENT_CHAINS`` closed chains that hold none (libsignal-java bounds receiver chains to 5
too). A spent chain can only ever see replays, so dropping it changes one thing: a replay of a
very old message fails as ``InvalidMessage`` instead of ``DuplicateMessage``. Records stay
loadable by libsignal (it simply finds fewer chains).
"""

from __future__ import annotations

from buzpo_nb.wa.errors import CryptoError
from buzpo_nb.wa.keys import KeyPair, shared_key, signal_public
from buzpo_nb.wa.signal.errors import DuplicateMessage, InvalidMessage, TooFarInFuture
from buzpo_nb.wa.signal.primitives import ZERO_SALT, derive_secrets, hmac_sha256
from buzpo_nb.wa.signal.session_record import Chain, ChainType, SessionState, b64

MAX_SKIP = 2000  # libsignal fillMessageKeys; Baileys sender keys use the same bound
MAX_SPENT_CHAINS = 5  # closed receiving chains without keys kept for replay detection
MESSAGE_KEY_SEED = b"\x01"
CHAIN_KEY_SEED = b"\x02"
INFO_MESSAGE_KEYS = b"WhisperMessageKeys"
INFO_RATCHET = b"WhisperRatchet"


def message_key_material(message_key: bytes) -> tuple[bytes, bytes, bytes]:
    """(AES-256 key, HMAC key, IV) for one message key."""
    cipher_key, mac_key, iv_block = derive_secrets(message_key, ZERO_SALT, INFO_MESSAGE_KEYS, 3)
    return cipher_key, mac_key, iv_block[:16]


def agree(private: bytes, public: bytes) -> bytes:
    """X25519 with a peer key from a message; a malformed key makes the message invalid."""
    try:
        return shared_key(private, public)
    except CryptoError as exc:
        raise InvalidMessage(f"invalid public key in message: {exc}") from exc


def own_chain(state: SessionState, name: str) -> Chain:
    """Replace ``state.chains[name]`` by a private copy and return it (copy-on-write)."""
    chain = state.chains[name].clone()
    state.chains[name] = chain
    return chain


def fill_message_keys(chain: Chain, counter: int) -> None:
    """Derive and store message keys up to ``counter`` (libsignal ``fillMessageKeys``)."""
    if chain.counter >= counter:
        return
    if counter - chain.counter > MAX_SKIP:
        raise TooFarInFuture(f"{counter - chain.counter} messages into the future (max {MAX_SKIP})")
    key = chain.key
    if key is None:
        raise InvalidMessage("chain closed")
    keys = chain.message_keys
    i = chain.counter
    while i < counter:
        i += 1
        keys[i] = hmac_sha256(key, MESSAGE_KEY_SEED)
        key = hmac_sha256(key, CHAIN_KEY_SEED)
    chain.key = key
    chain.counter = i


def take_message_key(state: SessionState, chain_name: str, counter: int) -> bytes:
    """Message key for ``counter`` on a receiving chain, removed so it can never be used twice."""
    chain = state.chains[chain_name]
    if chain.chain_type == ChainType.SENDING:
        raise InvalidMessage("tried to decrypt on a sending chain")
    chain = own_chain(state, chain_name)
    fill_message_keys(chain, counter)
    key = chain.message_keys.pop(counter, None)
    if key is None:
        raise DuplicateMessage(f"message key for counter {counter} already used")
    return key


def next_sending_key(state: SessionState) -> tuple[int, bytes]:
    """Advance our sending chain by one: (counter, message key). Raises ``KeyError`` if the
    state has no sending chain for its ratchet key (a corrupt record)."""
    name = b64(state.ephemeral_public)
    chain = state.chains[name]
    if chain.chain_type != ChainType.SENDING or chain.key is None:
        raise KeyError("no usable sending chain")
    counter = chain.counter + 1
    state.chains[name] = Chain(
        ChainType.SENDING,
        counter,
        hmac_sha256(chain.key, CHAIN_KEY_SEED),
        chain.message_keys,  # libsignal stores then deletes the key: sending chains stay empty
    )
    return counter, hmac_sha256(chain.key, MESSAGE_KEY_SEED)


def _add_chain(state: SessionState, remote_key: bytes, sending: bool) -> None:
    """libsignal ``calculateRatchet``: one DH ratchet half-step adding a chain."""
    secret = agree(state.ephemeral_private, remote_key)
    root_key, chain_key = derive_secrets(secret, state.root_key, INFO_RATCHET, 2)
    name = b64(state.ephemeral_public if sending else remote_key)
    if name in state.chains:
        raise InvalidMessage("ratchet chain already exists")
    state.chains[name] = Chain(
        ChainType.SENDING if sending else ChainType.RECEIVING, -1, chain_key, {}
    )
    state.root_key = root_key


def _drop_spent_chains(state: SessionState) -> None:
    """Forget all but the newest ``MAX_SPENT_CHAINS`` closed, keyless receiving chains."""
    spent = [
        name
        for name, chain in state.chains.items()
        if chain.key is None and not chain.message_keys and chain.chain_type == ChainType.RECEIVING
    ]
    for name in spent[: max(0, len(spent) - MAX_SPENT_CHAINS)]:
        del state.chains[name]


def maybe_step_ratchet(
    state: SessionState,
    remote_key: bytes,
    previous_counter: int,
    ratchet_key: KeyPair | None = None,
) -> None:
    """If ``remote_key`` is new, close the old receiving chain (keeping the keys of messages the
    peer says it sent on it), derive the new receiving chain, and switch to a fresh sending
    ratchet key (libsignal ``maybeStepRatchet``). ``ratchet_key`` can be injected for tests."""
    if b64(remote_key) in state.chains:
        return
    previous_name = b64(state.last_remote_ephemeral_key)
    if previous_name in state.chains:
        previous = own_chain(state, previous_name)
        fill_message_keys(previous, previous_counter)
        previous.key = None
        _drop_spent_chains(state)
    _add_chain(state, remote_key, sending=False)
    own_name = b64(state.ephemeral_public)
    own = state.chains.get(own_name)
    if own is not None:
        state.previous_counter = own.counter
        del state.chains[own_name]
    fresh = ratchet_key if ratchet_key is not None else KeyPair.generate()
    state.ephemeral_public = signal_public(fresh.public)
    state.ephemeral_private = fresh.private
    _add_chain(state, remote_key, sending=True)
    state.last_remote_ephemeral_key = remote_key
