"""WhatsApp media encryption: key expansion, AES-256-CBC + truncated HMAC, streaming both ways.

Every media blob WhatsApp stores is ``AES-256-CBC(PKCS7(plain)) || HMAC-SHA256(iv || enc)[:10]``
under keys expanded from a random 32-byte ``mediaKey`` (HKDF-SHA256, info per kind, see
``media_kinds``). The message carries ``fileSha256`` (plain), ``fileEncSha256`` (the whole
uploaded blob) and ``fileLength`` (plain bytes), all computed here.

Why streaming: a 100 MB video must never sit whole in memory. ``MediaEncryptor`` and
``MediaDecryptor`` take chunks of any size and give back what can be released, holding at most
a few blocks. Why verification: Baileys checks neither the MAC nor the hashes on download
(protocol-map §6.1), so corrupted or forged media turns into silently wrong bytes; Buzpo always
checks the MAC and, when given, the hashes, and raises ``MediaIntegrityError`` instead.

Sans-I/O: bytes in, bytes out; the only randomness (a fresh media key) can be injected.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from buzpo_nb.wa.errors import CryptoError
from buzpo_nb.wa.media_kinds import hkdf_info, upload_token

MEDIA_KEY_SIZE: Final = 32  # mediaKey in every media message (Baileys: Crypto.randomBytes(32))
EXPANDED_KEY_SIZE: Final = 112  # iv 16 + cipherKey 32 + macKey 32 + refKey 32
BLOCK: Final = 16  # AES block size
MAC_SIZE: Final = 10  # HMAC-SHA256 truncated to 10 bytes, appended to the ciphertext
# A decryptor cannot release the final cipher block (it carries the padding) nor the trailing
# MAC until it knows the stream has ended, so it always holds back this much input.
_HOLD: Final = BLOCK + MAC_SIZE
# The one-shot helpers work in slices of this size so that MAC, hashes and cipher each read a
# slice while it is still in cache: 1.5-2x faster than whole-buffer calls on a 10 MiB file.
SLICE: Final = 64 * 1024


class MediaKeyError(CryptoError):
    """The media key is unusable (not 32 bytes)."""


class MediaIntegrityError(CryptoError):
    """A media blob failed a check: MAC, fileSha256, fileEncSha256 or PKCS7 padding.

    Whatever bytes a streaming decryptor released before this was raised must be discarded.
    """


class MediaTruncatedError(MediaIntegrityError):
    """The blob is too short or its length is impossible (not ``16·n + 10``): cut off in transit."""


@dataclass(frozen=True, slots=True)
class MediaKeys:
    """The 112 bytes HKDF makes of a media key, split as WhatsApp splits them.

    ``ref_key`` is derived but unused by Baileys; it is kept so nothing is silently dropped.
    """

    iv: bytes = field(repr=False)
    cipher_key: bytes = field(repr=False)
    mac_key: bytes = field(repr=False)
    ref_key: bytes = field(repr=False)


def generate_media_key() -> bytes:
    """A fresh random 32-byte media key."""
    return os.urandom(MEDIA_KEY_SIZE)


def check_media_key(media_key: bytes) -> bytes:
    """``media_key`` as ``bytes`` if it is 32 bytes, else ``MediaKeyError`` (it is remote input)."""
    if not isinstance(media_key, bytes | bytearray | memoryview):
        raise MediaKeyError(f"media key must be bytes, got {type(media_key).__name__}")
    media_key = bytes(media_key)
    if len(media_key) != MEDIA_KEY_SIZE:
        raise MediaKeyError(f"media key must be {MEDIA_KEY_SIZE} bytes, got {len(media_key)}")
    return media_key


def derive_media_keys(media_key: bytes, kind: str) -> MediaKeys:
    """Expand ``media_key`` for ``kind``: HKDF-SHA256(salt empty, info ``WhatsApp <X> Keys``).

    An empty salt and ``salt=None`` (32 zero bytes) give the same HMAC key, which is how
    WebCrypto's HKDF with an empty salt in Baileys and ``cryptography`` here agree.
    """
    media_key = check_media_key(media_key)
    info = hkdf_info(kind)
    okm = HKDF(algorithm=hashes.SHA256(), length=EXPANDED_KEY_SIZE, salt=None, info=info).derive(
        media_key
    )
    return MediaKeys(iv=okm[:16], cipher_key=okm[16:48], mac_key=okm[48:80], ref_key=okm[80:112])


@dataclass(frozen=True, slots=True)
class MediaEncryptionResult:
    """What a media message needs besides the upload answer (``url``, ``directPath``).

    The key is left out of ``repr`` so that logging a result never leaks it.
    """

    media_key: bytes = field(repr=False)
    kind: str
    file_sha256: bytes  # SHA-256 of the plaintext
    file_enc_sha256: bytes  # SHA-256 of the uploaded blob, enc || mac
    file_length: int  # plaintext length in bytes
    mac: bytes  # the 10 trailing bytes of the blob

    @property
    def upload_token(self) -> str:
        """The token naming this blob in the upload URL (see ``media_kinds.upload_token``)."""
        return upload_token(self.file_enc_sha256)

    @property
    def blob_length(self) -> int:
        """Length of enc || mac: PKCS7 always adds 1..16 bytes, then the 10-byte MAC."""
        return (self.file_length // BLOCK + 1) * BLOCK + MAC_SIZE


@dataclass(frozen=True, slots=True)
class EncryptedMedia(MediaEncryptionResult):
    """A whole encrypted blob (``enc || mac``) with its metadata; from ``encrypt_media``."""

    blob: bytes = field(repr=False)  # possibly megabytes: kept out of logs and tracebacks


def _new_cipher(keys: MediaKeys) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv))


def _new_mac(keys: MediaKeys) -> crypto_hmac.HMAC:
    mac = crypto_hmac.HMAC(keys.mac_key, hashes.SHA256())
    mac.update(keys.iv)
    return mac


class MediaEncryptor:
    """Streaming media encryption: ``update(chunk) -> bytes`` as many times as needed, then
    ``finalize() -> bytes`` (last block + MAC), then ``.result``.

    The concatenated outputs are the upload body. Chunks may be of any size (the cipher buffers
    partial blocks); 64 KiB or another multiple of 16 avoids that buffering. Nothing but the
    running hashes is kept between calls.
    """

    def __init__(self, kind: str, media_key: bytes | None = None) -> None:
        self.kind = kind
        self.media_key = generate_media_key() if media_key is None else check_media_key(media_key)
        keys = derive_media_keys(self.media_key, kind)
        self._cipher = _new_cipher(keys).encryptor()
        self._mac = _new_mac(keys)
        self._plain_hash = hashlib.sha256()
        self._enc_hash = hashlib.sha256()
        self._length = 0
        self._result: MediaEncryptionResult | None = None

    def update(self, chunk: bytes | bytearray | memoryview) -> bytes:
        """Encrypt the next piece of plaintext; return the ciphertext it completes (maybe empty)."""
        if self._result is not None:
            raise RuntimeError("MediaEncryptor already finalized")
        view = memoryview(chunk).cast("B")  # any contiguous bytes-like, counted in bytes
        self._length += len(view)
        self._plain_hash.update(view)
        enc = self._cipher.update(view)
        if enc:
            self._mac.update(enc)
            self._enc_hash.update(enc)
        return enc

    def update_into(
        self, chunk: bytes | bytearray | memoryview, out: memoryview | bytearray
    ) -> int:
        """Like ``update`` but writes the ciphertext into ``out``; returns how many bytes.

        ``out`` must have room for ``len(chunk) + 15`` bytes (the cipher may complete a block
        it buffered). Lets a caller reuse one buffer instead of allocating per chunk.
        """
        if self._result is not None:
            raise RuntimeError("MediaEncryptor already finalized")
        view = memoryview(chunk).cast("B")
        self._length += len(view)
        self._plain_hash.update(view)
        written = self._cipher.update_into(view, out)
        if written:
            enc = memoryview(out)[:written]
            self._mac.update(enc)
            self._enc_hash.update(enc)
        return written

    def finalize(self) -> bytes:
        """Pad, encrypt the last block and append the MAC; the result is then in ``.result``."""
        if self._result is not None:
            raise RuntimeError("MediaEncryptor already finalized")
        pad = BLOCK - self._length % BLOCK
        enc = self._cipher.update(bytes((pad,)) * pad) + self._cipher.finalize()
        self._mac.update(enc)
        mac = self._mac.finalize()[:MAC_SIZE]
        tail = enc + mac
        self._enc_hash.update(tail)
        self._result = MediaEncryptionResult(
            media_key=self.media_key,
            kind=self.kind,
            file_sha256=self._plain_hash.digest(),
            file_enc_sha256=self._enc_hash.digest(),
            file_length=self._length,
            mac=mac,
        )
        return tail

    @property
    def result(self) -> MediaEncryptionResult:
        """Hashes, length and MAC of the finished blob; only after ``finalize()``."""
        if self._result is None:
            raise RuntimeError("MediaEncryptor.result is only known after finalize()")
        return self._result


class MediaDecryptor:
    """Streaming media decryption with MAC (and optional hash) verification at ``finalize()``.

    Feed the downloaded blob in chunks of any size; each ``update`` returns the plaintext that
    can already be released, ``finalize`` returns the rest after checking the MAC, the padding
    and, when given, ``file_enc_sha256`` / ``file_sha256``. The last 26 bytes (final cipher
    block + MAC) are always held back because only the end of the stream tells them apart.

    Released plaintext is unauthenticated until ``finalize()`` returns: write it somewhere
    provisional and discard it when ``MediaIntegrityError`` is raised. That is the price of
    never holding a whole file; ``decrypt_media`` returns nothing until every check passed.
    """

    def __init__(
        self,
        media_key: bytes,
        kind: str,
        *,
        file_sha256: bytes | None = None,
        file_enc_sha256: bytes | None = None,
    ) -> None:
        keys = derive_media_keys(media_key, kind)
        self.kind = kind
        self._cipher = _new_cipher(keys).decryptor()
        self._mac = _new_mac(keys)
        self._expect_plain = None if file_sha256 is None else bytes(file_sha256)
        self._expect_enc = None if file_enc_sha256 is None else bytes(file_enc_sha256)
        # Hash only what the caller asked to check: each hash costs as much as the MAC.
        self._plain_hash = hashlib.sha256() if self._expect_plain is not None else None
        self._enc_hash = hashlib.sha256() if self._expect_enc is not None else None
        self._held = b""  # input not yet known to be neither final block nor MAC (<= 41 bytes)
        self._received = 0
        self._released = 0
        self._done = False

    @property
    def bytes_received(self) -> int:
        """Blob bytes fed so far."""
        return self._received

    @property
    def plaintext_length(self) -> int:
        """Plaintext bytes released so far (the file length once ``finalize()`` returned)."""
        return self._released

    def _consume(self, enc: bytes | memoryview) -> bytes:
        """Run ciphertext known not to be the final block through MAC, hash and cipher."""
        self._mac.update(enc)
        if self._enc_hash is not None:
            self._enc_hash.update(enc)
        plain = self._cipher.update(enc)
        if self._plain_hash is not None:
            self._plain_hash.update(plain)
        return plain

    def update(self, chunk: bytes | bytearray | memoryview) -> bytes:
        """Take the next piece of the blob; returns the plaintext that can be released now."""
        if self._done:
            raise RuntimeError("MediaDecryptor already finalized")
        view = memoryview(chunk).cast("B")
        size = len(view)
        if not size:
            return b""
        self._received += size
        held = self._held
        available = len(held) + size
        release = (available - _HOLD) // BLOCK * BLOCK if available > _HOLD else 0
        if release <= 0:
            self._held = held + bytes(view)
            return b""
        if release <= len(held):  # only with chunks smaller than a block or two
            out = self._consume(held[:release])
            self._held = held[release:] + bytes(view)
        else:
            cut = release - len(held)
            # The held bytes (< 42) and the big part go through separately so the big part is
            # never copied on the way in; the two plaintext pieces are joined once on the way out.
            first = self._consume(held) if held else b""
            out = self._consume(view[:cut])
            if first:
                out = first + out
            self._held = bytes(view[cut:])
        self._released += len(out)
        return out

    def finalize(self) -> bytes:
        """Check MAC, padding and the requested hashes; return the last plaintext bytes.

        Raises ``MediaTruncatedError`` when the blob length is impossible and
        ``MediaIntegrityError`` for any failed check.
        """
        if self._done:
            raise RuntimeError("MediaDecryptor already finalized")
        self._done = True
        _check_blob_length(self._received)
        held = self._held  # exactly the final block and the MAC, by the arithmetic in update()
        last_enc, mac = held[:BLOCK], held[BLOCK:]
        self._mac.update(last_enc)
        if self._enc_hash is not None:
            self._enc_hash.update(held)
        if not hmac.compare_digest(self._mac.finalize()[:MAC_SIZE], mac):
            raise MediaIntegrityError("media MAC mismatch: wrong key, wrong kind or corrupted blob")
        if self._enc_hash is not None and self._enc_hash.digest() != self._expect_enc:
            raise MediaIntegrityError("fileEncSha256 mismatch")
        last = self._cipher.update(last_enc) + self._cipher.finalize()
        tail = last[: len(last) - _padding_length(last)]
        if self._plain_hash is not None:
            self._plain_hash.update(tail)
            if self._plain_hash.digest() != self._expect_plain:
                raise MediaIntegrityError("fileSha256 mismatch")
        self._released += len(tail)
        return tail


def _padding_length(last_block: bytes) -> int:
    """The PKCS7 pad length of the decrypted final block; ``MediaIntegrityError`` when invalid."""
    pad = last_block[-1]
    if not 1 <= pad <= BLOCK or last_block[-pad:] != bytes((pad,)) * pad:
        raise MediaIntegrityError("bad PKCS7 padding in media blob")
    return pad


def _as_bytes_view(data: bytes | bytearray | memoryview) -> memoryview:
    return memoryview(data).cast("B")


def encrypt_media(
    data: bytes | bytearray | memoryview, kind: str, media_key: bytes | None = None
) -> EncryptedMedia:
    """Encrypt a whole file in memory; returns the upload body (``.blob``) and its metadata.

    Works in ``SLICE``-sized pieces written straight into one buffer of the final size, so the
    only whole-file copy is the last conversion to immutable ``bytes``. For large files prefer
    ``MediaEncryptor`` so the plaintext and the blob never coexist whole.
    """
    encryptor = MediaEncryptor(kind, media_key)
    view = _as_bytes_view(data)
    size = len(view)
    buf = bytearray((size // BLOCK + 1) * BLOCK + MAC_SIZE + BLOCK)  # + update_into's slack
    with memoryview(buf) as out:
        pos = 0
        for start in range(0, size, SLICE):
            pos += encryptor.update_into(view[start : start + SLICE], out[pos:])
        tail = encryptor.finalize()
        out[pos : pos + len(tail)] = tail
        pos += len(tail)
    del buf[pos:]
    r = encryptor.result
    return EncryptedMedia(
        media_key=r.media_key,
        kind=r.kind,
        file_sha256=r.file_sha256,
        file_enc_sha256=r.file_enc_sha256,
        file_length=r.file_length,
        mac=r.mac,
        blob=bytes(buf),
    )


def decrypt_media(
    blob: bytes | bytearray | memoryview,
    media_key: bytes,
    kind: str,
    *,
    file_sha256: bytes | None = None,
    file_enc_sha256: bytes | None = None,
) -> bytes:
    """Decrypt a whole downloaded blob and check it; never returns unverified bytes.

    The length, the MAC, ``file_enc_sha256`` (if given), the padding and ``file_sha256`` (if
    given) are all checked before anything is returned; a failure raises
    ``MediaIntegrityError`` (or its ``MediaTruncatedError``) and the plaintext is dropped.
    The MAC is checked before the padding is looked at, so a forger learns nothing from which
    error comes back. One pass in ``SLICE`` pieces (MAC, hashes and cipher read each piece while
    it is in cache) into one buffer; the only whole-file copy is the final ``bytes``.
    """
    keys = derive_media_keys(media_key, kind)
    view = _as_bytes_view(blob)
    size = len(view)
    _check_blob_length(size)
    enc, mac = view[:-MAC_SIZE], view[-MAC_SIZE:]
    enc_size = size - MAC_SIZE
    last_start = enc_size - BLOCK  # the final block's plaintext is hashed after unpadding
    check = _new_mac(keys)
    decryptor = _new_cipher(keys).decryptor()
    enc_hash = hashlib.sha256() if file_enc_sha256 is not None else None
    plain_hash = hashlib.sha256() if file_sha256 is not None else None
    buf = bytearray(enc_size + BLOCK)  # + update_into's slack
    with memoryview(buf) as out:
        pos = 0
        for start in range(0, enc_size, SLICE):
            piece = enc[start : start + SLICE]
            check.update(piece)
            if enc_hash is not None:
                enc_hash.update(piece)
            written = decryptor.update_into(piece, out[pos:])
            if plain_hash is not None:
                plain_hash.update(out[pos : min(pos + written, last_start)])
            pos += written
        decryptor.finalize()
        if not hmac.compare_digest(check.finalize()[:MAC_SIZE], mac):
            raise MediaIntegrityError("media MAC mismatch: wrong key, wrong kind or corrupted blob")
        if enc_hash is not None:
            enc_hash.update(mac)
            if enc_hash.digest() != bytes(file_enc_sha256 or b""):
                raise MediaIntegrityError("fileEncSha256 mismatch")
        end = enc_size - _padding_length(bytes(out[last_start:enc_size]))
        if plain_hash is not None:
            plain_hash.update(out[last_start:end])
            if plain_hash.digest() != bytes(file_sha256 or b""):
                raise MediaIntegrityError("fileSha256 mismatch")
    del buf[end:]
    return bytes(buf)


def _check_blob_length(size: int) -> None:
    """A blob is ``16·n + 10`` bytes with ``n >= 1``; anything else was cut off (or padded)."""
    if size < _HOLD or (size - MAC_SIZE) % BLOCK:
        raise MediaTruncatedError(
            f"media blob of {size} bytes is not 16·n + 10 with n >= 1: truncated"
        )
