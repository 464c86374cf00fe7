"""Signal protocol for WhatsApp, compatible with libsignal-node 6.0.0 and Baileys 7.0.0-rc.9.

Pure and sans-I/O: every operation takes a record (or None) and returns a new record plus its
output; the caller loads and stores records (see :mod:`.store` for the interface and the Baileys
on-disk layout). Pairwise sessions: :func:`initiate_session`, :func:`encrypt`,
:func:`decrypt_message`, :func:`decrypt_prekey_message`. Groups:
:func:`create_sender_key_distribution`, :func:`process_sender_key_distribution`,
:func:`group_encrypt`, :func:`group_decrypt`. WhatsApp
pads plaintexts first: :func:`pad_random_max16` / :func:`unpad_random_max16`.
"""

from buzpo_nb.wa.signal.address import ProtocolAddress, SenderKeyName
from buzpo_nb.wa.signal.errors import (
    DuplicateMessage,
    InvalidKeyBundle,
    InvalidMessage,
    InvalidSignature,
    MalformedMessage,
    MalformedRecord,
    MissingPreKey,
    NoSession,
    SignalError,
    TooFarInFuture,
    UntrustedIdentity,
)
from buzpo_nb.wa.signal.group_cipher import (
    DistributionResult,
    GroupDecryptResult,
    GroupEncryptResult,
    create_sender_key_distribution,
    group_decrypt,
    group_encrypt,
    process_sender_key_distribution,
)
from buzpo_nb.wa.signal.identity import LocalIdentity, generate_registration_id
from buzpo_nb.wa.signal.padding import pad_random_max16, unpad_random_max16
from buzpo_nb.wa.signal.sender_key_record import SenderKeyRecord, SenderKeyState
from buzpo_nb.wa.signal.session_builder import PreKeyBundle, initiate_session
from buzpo_nb.wa.signal.session_cipher import (
    DecryptResult,
    EncryptResult,
    MessageType,
    decrypt_message,
    decrypt_prekey_message,
    encrypt,
)
from buzpo_nb.wa.signal.session_record import (
    SessionRecord,
    SessionState,
    close_open_session,
)
from buzpo_nb.wa.signal.store import SignalStore
from buzpo_nb.wa.signal.wire import (
    PreKeyWhisperMessage,
    SenderKeyDistributionMessage,
    SenderKeyMessage,
    WhisperMessage,
)

__all__ = [
    "DecryptResult",
    "DistributionResult",
    "DuplicateMessage",
    "EncryptResult",
    "GroupDecryptResult",
    "GroupEncryptResult",
    "InvalidKeyBundle",
    "InvalidMessage",
    "InvalidSignature",
    "LocalIdentity",
    "MalformedMessage",
    "MalformedRecord",
    "MessageType",
    "MissingPreKey",
    "NoSession",
    "PreKeyBundle",
    "PreKeyWhisperMessage",
    "ProtocolAddress",
    "SenderKeyDistributionMessage",
    "SenderKeyMessage",
    "SenderKeyName",
    "SenderKeyRecord",
    "SenderKeyState",
    "SessionRecord",
    "SessionState",
    "SignalError",
    "SignalStore",
    "TooFarInFuture",
    "UntrustedIdentity",
    "WhisperMessage",
    "close_open_session",
    "create_sender_key_distribution",
    "decrypt_message",
    "decrypt_prekey_message",
    "encrypt",
    "generate_registration_id",
    "group_decrypt",
    "group_encrypt",
    "initiate_session",
    "pad_random_max16",
    "process_sender_key_distribution",
    "unpad_random_max16",
]
